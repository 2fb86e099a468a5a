//! [`SlotStore`] for [`PostgresStore`]: the pool slots, pool starts and `max_active_tasks`
//! held by the servers sharing the database, in the tables of `migrations/0005_slots.sql`.
//!
//! An `acquire` is one transaction that first takes a transaction-scoped advisory lock of the
//! workflow (when it has `max_active_tasks`), then of the pool: every `acquire` of the same
//! pool waits for the one before it, and each statement after the lock sees what that one
//! committed (READ COMMITTED takes a snapshot per statement). Locks are always taken in that
//! order, workflow then pool, so two transactions never wait for each other in a cycle. A
//! lock's key names the schema too, so that stores in other schemas of the database do not
//! queue behind this one.
//!
//! Liveness and rate windows are read with `clock_timestamp()`, never a server's clock, as
//! the servers' leases are (`servers.rs`).

use async_trait::async_trait;
use tidewater_core::{RunId, TaskName, Timestamp};
use tidewater_store::{
    PoolRequest, ServerId, SlotGrant, SlotRefusal, SlotRequest, SlotStore, StoreError,
};
use tokio_postgres::Transaction;

use super::PostgresStore;
use super::codec::decode_timestamp;
use super::failure::OrStore;

/// The advisory lock classes (first key) of a workflow's and a pool's holds; the second key
/// is the hash of the schema and the name.
const WORKFLOW_LOCK: i32 = 1952540017;
const POOL_LOCK: i32 = 1952540018;

/// A window's length as the statements take it: whole milliseconds.
fn window_millis(window: chrono::TimeDelta) -> i64 {
    window.num_milliseconds()
}

/// A count from the database as the contract's `u32` (a sum of slots never nears its limit).
fn count(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[async_trait]
impl SlotStore for PostgresStore {
    async fn acquire(
        &self,
        holder: ServerId,
        request: &SlotRequest,
    ) -> Result<SlotGrant, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        if request.max_active_tasks.is_some() {
            lock(&transaction, WORKFLOW_LOCK, request.workflow.as_str()).await?;
        }
        if let Some(pool) = &request.pool {
            lock(&transaction, POOL_LOCK, pool.pool.as_str()).await?;
        }
        let grant = decide_acquire(&transaction, holder, request).await?;
        transaction.commit().await.db()?;
        Ok(grant)
    }

    async fn release(
        &self,
        holder: ServerId,
        run: RunId,
        task: &TaskName,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM slot_holds WHERE holder = $1 AND run_id = $2 AND task = $3",
                &[&holder.0, &run.0, &task.as_str()],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn release_all(&self, holder: ServerId) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute("DELETE FROM slot_holds WHERE holder = $1", &[&holder.0])
            .await
            .db()?;
        Ok(())
    }
}

/// Takes the advisory lock of `name` in `class` until the transaction ends.
async fn lock(transaction: &Transaction<'_>, class: i32, name: &str) -> Result<(), StoreError> {
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || '/' || $2))",
            &[&class, &name],
        )
        .await
        .db()?;
    Ok(())
}

/// The decision of an `acquire`, under its locks.
async fn decide_acquire(
    transaction: &Transaction<'_>,
    holder: ServerId,
    request: &SlotRequest,
) -> Result<SlotGrant, StoreError> {
    let task = request.task.as_str();
    let existing: Option<i64> = transaction
        .query_opt(
            "SELECT holder FROM slot_holds WHERE run_id = $1 AND task = $2",
            &[&request.run.0, &task],
        )
        .await
        .db()?
        .map(|row| row.get(0));
    match existing {
        Some(existing) if existing == holder.0 => return Ok(SlotGrant::Granted),
        // Another server held it: the run was taken over (its owner fenced off), and its
        // task is asked for again by the run's executor now.
        Some(_) => {
            transaction
                .execute(
                    "DELETE FROM slot_holds WHERE run_id = $1 AND task = $2",
                    &[&request.run.0, &task],
                )
                .await
                .db()?;
        }
        None => {}
    }
    if let Some(limit) = request.max_active_tasks
        && let Some(refusal) = check_workflow(transaction, holder, request, limit).await?
    {
        return Ok(SlotGrant::Refused(refusal));
    }
    if let Some(pool) = &request.pool
        && let Some(refusal) = check_pool(transaction, holder, pool).await?
    {
        return Ok(SlotGrant::Refused(refusal));
    }
    let pool = request.pool.as_ref();
    transaction
        .execute(
            "INSERT INTO slot_holds (holder, run_id, task, workflow, pool, slots)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &holder.0,
                &request.run.0,
                &task,
                &request.workflow.as_str(),
                &pool.map(|pool| pool.pool.as_str()),
                &pool.map_or(0, |pool| i32::try_from(pool.needed).unwrap_or(i32::MAX)),
            ],
        )
        .await
        .db()?;
    if let Some(pool) = pool
        && pool.rate.is_some()
    {
        transaction
            .execute(
                "INSERT INTO slot_starts (pool, started_at) VALUES ($1, clock_timestamp())",
                &[&pool.pool.as_str()],
            )
            .await
            .db()?;
    }
    Ok(SlotGrant::Granted)
}

/// Deletes the holds of dead servers whose `column` (`workflow` or `pool`, a fixed name) is
/// `name`: they count for nothing already.
async fn delete_dead_holds(
    transaction: &Transaction<'_>,
    column: &'static str,
    name: &str,
) -> Result<(), StoreError> {
    transaction
        .execute(
            &format!(
                "DELETE FROM slot_holds h WHERE h.{column} = $1
                   AND NOT EXISTS (SELECT 1 FROM servers s
                                   WHERE s.id = h.holder AND s.expires_at > clock_timestamp())"
            ),
            &[&name],
        )
        .await
        .db()?;
    Ok(())
}

/// The live holds of the request's workflow against its `max_active_tasks`. Deletes the
/// workflow's holds of dead servers on the way (they count for nothing already).
async fn check_workflow(
    transaction: &Transaction<'_>,
    holder: ServerId,
    request: &SlotRequest,
    limit: u32,
) -> Result<Option<SlotRefusal>, StoreError> {
    let workflow = request.workflow.as_str();
    delete_dead_holds(transaction, "workflow", workflow).await?;
    let row = transaction
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE holder <> $2)
             FROM slot_holds WHERE workflow = $1",
            &[&workflow, &holder.0],
        )
        .await
        .db()?;
    let (active, held_elsewhere) = (count(row.get(0)), count(row.get(1)));
    Ok((active >= limit).then(|| SlotRefusal::MaxActiveTasks {
        workflow: request.workflow.clone(),
        active,
        held_elsewhere,
    }))
}

/// The live holds of `pool` against its slots, then its starts against its rate. Deletes
/// the pool's holds of dead servers, and its starts older than the longest window (a day).
async fn check_pool(
    transaction: &Transaction<'_>,
    holder: ServerId,
    pool: &PoolRequest,
) -> Result<Option<SlotRefusal>, StoreError> {
    let name = pool.pool.as_str();
    delete_dead_holds(transaction, "pool", name).await?;
    let row = transaction
        .query_one(
            "SELECT coalesce(sum(slots), 0)::BIGINT,
                    coalesce(sum(slots) FILTER (WHERE holder <> $2), 0)::BIGINT
             FROM slot_holds WHERE pool = $1",
            &[&name, &holder.0],
        )
        .await
        .db()?;
    let (used, held_elsewhere) = (count(row.get(0)), count(row.get(1)));
    if used.saturating_add(pool.needed) > pool.slots {
        return Ok(Some(SlotRefusal::PoolFull {
            pool: pool.pool.clone(),
            used,
            held_elsewhere,
        }));
    }
    let Some(rate) = pool.rate else {
        return Ok(None);
    };
    transaction
        .execute(
            "DELETE FROM slot_starts
             WHERE pool = $1 AND started_at < clock_timestamp() - INTERVAL '1 day'",
            &[&name],
        )
        .await
        .db()?;
    // A start now keeps every window within the rate when the `starts`-th most recent start
    // is at least one window old (the rule of `tidewater_core`'s `StartWindow`).
    let blocked = transaction
        .query_opt(
            "SELECT (extract(epoch FROM started_at + $2::BIGINT * INTERVAL '1 millisecond')
                     * 1000000)::BIGINT
             FROM slot_starts WHERE pool = $1
               AND started_at + $2::BIGINT * INTERVAL '1 millisecond' > clock_timestamp()
             ORDER BY started_at DESC OFFSET $3 LIMIT 1",
            &[
                &name,
                &window_millis(rate.window()),
                &(i64::from(rate.starts()) - 1),
            ],
        )
        .await
        .db()?;
    match blocked {
        Some(row) => {
            let until: Timestamp = decode_timestamp(row.get(0), "slot_starts.started_at")?;
            Ok(Some(SlotRefusal::RateLimited {
                pool: pool.pool.clone(),
                until,
            }))
        }
        None => Ok(None),
    }
}
