//! [`PostgresStore`]: the store in a PostgreSQL database, which any number of `tidewater`
//! processes on any number of machines share.

mod access;
mod control;
mod data_changes;
mod failure;
mod feed;
mod history_import;
mod migrations;
mod notifications;
mod pool;
mod rows;
mod servers;
mod slots;
mod streams;
mod workers;
mod write_batch;

use async_trait::async_trait;
use tidewater_core::{Change, ProcessIdentity, RunId, RunState, TaskInstance, TaskName};
use tidewater_store::{
    AttemptRecord, NewRun, OwnerClaim, Repin, RunCreation, RunFilter, RunParent, RunRecord,
    RunStore, RunVersion, ServerStore, Store, StoreError,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, GenericClient, Transaction};

use codec::{
    decode_process, encode_process, encode_run_state, encode_task_state, encode_timestamp,
    encode_trigger,
};
use failure::{OrStore, is_unique_violation};
use pool::Pool;
use rows::{read_attempt, read_run, read_task_instance, select_runs};
use tidewater_store::columns::batch::{self, Batch};
use tidewater_store::columns::codec;

/// Where the store is: a `postgres://` URL (libpq's keywords work too), the password if the
/// URL does not carry it, and the schema to keep the tables in (`None`: the connection's
/// `search_path`, normally `public`).
#[derive(Clone)]
pub struct PostgresLocation {
    pub url: String,
    pub password: Option<String>,
    pub schema: Option<String>,
}

impl std::fmt::Debug for PostgresLocation {
    /// Neither the URL (it may hold a password) nor the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLocation")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// What only a PostgreSQL store fails with on opening. Its messages name the server, the
/// database and the role, never a password.
#[derive(Debug, thiserror::Error)]
pub enum PostgresStoreError {
    #[error("the store URL is not a PostgreSQL URL: {0}")]
    BadUrl(String),
    #[error(
        "the schema name `{0}` is not a plain identifier (lowercase letters, digits and `_`, not starting with a digit)"
    )]
    BadSchema(String),
    #[error("cannot reach the PostgreSQL store {target}: {reason}")]
    Unreachable { target: String, reason: String },
    #[error(
        "the PostgreSQL store already holds runs, backfills, tokens or events: history is copied only into an empty store (a new database or `[store] schema`)"
    )]
    NotEmpty,
}

impl From<PostgresStoreError> for StoreError {
    fn from(error: PostgresStoreError) -> StoreError {
        StoreError::BackendCondition(Box::new(error))
    }
}

/// Connections kept open per store: the server's scheduler, its runs' engines and the API
/// share them; a transaction holds one only for its few statements.
const POOL_SIZE: usize = 8;

/// Runs, task instances and attempts in PostgreSQL tables (migrations in `migrations/`).
///
/// Every method is one statement or one transaction on a pooled connection. Where SQLite
/// relies on its single writer, this store says what serialises: the change feed's advisory
/// lock (see `migrations/0001_schema.sql`) orders every transaction that records events, the
/// unique indexes settle two processes creating the same interval's run, and `claim_owner` is
/// one conditional `UPDATE`, which PostgreSQL re-checks on the row's newest version.
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects, creates the schema if it is named and missing, and brings it up to date.
    pub async fn open(location: &PostgresLocation) -> Result<PostgresStore, StoreError> {
        let mut config: Config = location
            .url
            .parse()
            .map_err(|error: tokio_postgres::Error| {
                PostgresStoreError::BadUrl(error.to_string())
            })?;
        if let Some(password) = &location.password {
            config.password(password);
        }
        if let Some(schema) = &location.schema {
            if !is_plain_identifier(schema) {
                return Err(PostgresStoreError::BadSchema(schema.clone()).into());
            }
            // Every connection sees only this schema's tables.
            config.options(format!("-csearch_path={schema}"));
        }
        if config.get_application_name().is_none() {
            config.application_name("tidewater");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let target = describe_target(&config);
        let pool = Pool::new(config, POOL_SIZE);
        let mut client = pool
            .connect()
            .await
            .map_err(|error| PostgresStoreError::Unreachable {
                target: target.clone(),
                reason: describe(&error),
            })?;
        migrations::migrate(&mut client, location.schema.as_deref()).await?;
        Ok(PostgresStore { pool })
    }
}

/// `user@host:port/database`, what an error may name.
fn describe_target(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("(no user)"),
        config.get_dbname().unwrap_or("(default database)")
    )
}

/// The server's refusal (`password authentication failed for user "…"`), or what failed on
/// the way (`Connection refused`). Neither carries a password.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(refusal) = error.as_db_error() {
        return format!("the server refused: {}", refusal.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A schema name that needs no quoting anywhere it is written.
pub(crate) fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Takes the change feed's lock for the rest of `transaction`: first thing in every
/// transaction that may record events, before any row lock, so that such transactions queue
/// in one order and never deadlock on each other's rows (the triggers take it again, which
/// costs nothing once held).
async fn lock_feed(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    // The simple query protocol: one round trip, where a statement with parameters takes two
    // (prepare, then execute).
    transaction
        .batch_execute("SELECT tidewater_feed_lock()")
        .await
        .db()
}

#[async_trait]
impl Store for PostgresStore {
    async fn highest_run_id(&self) -> Result<Option<RunId>, StoreError> {
        let client = self.pool.get().await?;
        let highest: i64 = client
            .query_one(
                "SELECT greatest(
                     coalesce((SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                               FROM runs_id_seq), 0),
                     coalesce((SELECT max(id) FROM runs), 0))",
                &[],
            )
            .await
            .db()?
            .get(0);
        Ok((highest > 0).then_some(RunId(highest)))
    }

    async fn skip_run_ids_through(&self, id: RunId) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        // `setval` never lowers here: the greatest of the given id and the sequence's own.
        client
            .execute(
                "SELECT setval('runs_id_seq', greatest($1::BIGINT,
                     (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM runs_id_seq)),
                     true)
                 WHERE $1::BIGINT > 0",
                &[&id.0],
            )
            .await
            .db()?;
        Ok(())
    }

    /// PostgreSQL's commits are durable when they return; this prunes the change feed
    /// instead (what SQLite does beside its checkpoint).
    async fn checkpoint(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        feed::prune_if_due(&*client).await
    }

    /// A database cannot be replaced under an open connection the way a file can.
    fn verify_store(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn worker_store(&self) -> Option<&dyn tidewater_store::WorkerStore> {
        Some(self)
    }

    async fn close(&self) {
        self.pool.close();
    }

    fn streams(&self) -> Option<&dyn tidewater_store::StreamStore> {
        Some(self)
    }

    fn servers(&self) -> Option<&dyn ServerStore> {
        Some(self)
    }

    fn slots(&self) -> Option<&dyn tidewater_store::SlotStore> {
        Some(self)
    }
}

/// A new run's columns, encoded once.
pub(crate) struct NewRunRow {
    state: RunState,
    params: String,
    tasks: Vec<String>,
    pending: &'static str,
}

impl NewRunRow {
    pub(crate) fn encode(run: &NewRun) -> NewRunRow {
        NewRunRow {
            state: RunState::Queued,
            params: serde_json::Value::Object(run.params.clone()).to_string(),
            tasks: run.tasks.iter().map(ToString::to_string).collect(),
            pending: encode_task_state(&TaskInstance::new().state).state,
        }
    }

    /// Inserts the run and its task instances; the new run's id.
    pub(crate) async fn insert(
        &self,
        transaction: &Transaction<'_>,
        run: &NewRun,
    ) -> Result<i64, StoreError> {
        let state = encode_run_state(&self.state);
        let backfill = run.backfill.map(|backfill| backfill.0);
        let id: i64 = transaction
            .query_one(
                "INSERT INTO runs (workflow, interval_start, interval_end, triggered_by,
                     params, state, started_at, finished_at, workflow_hash,
                     workflow_source, created_at, backfill_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 RETURNING id",
                &[
                    &run.workflow.as_str(),
                    &encode_timestamp(run.interval.start),
                    &encode_timestamp(run.interval.end),
                    &encode_trigger(run.trigger),
                    &self.params,
                    &state.state,
                    &state.started_at,
                    &state.finished_at,
                    &run.workflow_hash.as_str(),
                    &run.workflow_source.as_str(),
                    &encode_timestamp(run.created_at),
                    &backfill,
                ],
            )
            .await
            .db()?
            .get(0);
        // One statement for every task: the array's ordinality is the task's position.
        transaction
            .execute(
                "INSERT INTO task_instances (run_id, task, position, state, last_attempt,
                     attempt_base)
                 SELECT $1, task, position - 1, $2, 0, 0
                 FROM unnest($3::TEXT[]) WITH ORDINALITY AS tasks (task, position)",
                &[&id, &self.pending, &self.tasks],
            )
            .await
            .db()?;
        Ok(id)
    }

    pub(crate) fn record(&self, run: NewRun, id: i64) -> RunRecord {
        RunRecord {
            id: RunId(id),
            workflow: run.workflow,
            interval: run.interval,
            trigger: run.trigger,
            params: run.params,
            state: self.state.clone(),
            workflow_hash: run.workflow_hash,
            created_at: run.created_at,
            owner: None,
            backfill: run.backfill,
        }
    }
}

/// A unique index refused the run: the interval already has the run it may have only one of.
fn interval_taken<T>(inserted: Result<T, StoreError>, run: &NewRun) -> Result<T, StoreError> {
    match inserted {
        Err(error) if is_unique_violation(&error) => Err(StoreError::IntervalTaken {
            workflow: run.workflow.clone(),
            trigger: run.trigger.as_str(),
        }),
        other => other,
    }
}

impl PostgresStore {
    /// `create_run`: refuses a second run of an interval that must have only one.
    pub(crate) async fn insert_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        let row = NewRunRow::encode(&run);
        let inserted = async {
            let mut client = self.pool.get().await?;
            let transaction = client.transaction().await.db()?;
            lock_feed(&transaction).await?;
            let id = row.insert(&transaction, &run).await?;
            transaction.commit().await.db()?;
            Ok(id)
        }
        .await;
        let id = interval_taken(inserted, &run)?;
        Ok(row.record(run, id))
    }

    /// `create_child_run`: looked up under the feed's lock, which every creation of a run
    /// takes, so two attempts asking at once share one child (the unique index
    /// `runs_child_of` would refuse a second anyway).
    async fn insert_child_run(
        &self,
        parent: &RunParent,
        run: NewRun,
    ) -> Result<RunRecord, StoreError> {
        let row = NewRunRow::encode(&run);
        let parent_task = parent.task.to_string();
        let inserted = async {
            let mut client = self.pool.get().await?;
            let transaction = client.transaction().await.db()?;
            lock_feed(&transaction).await?;
            let existing = transaction
                .query_opt(
                    select_runs!("WHERE parent_run_id = $1 AND parent_task = $2"),
                    &[&parent.run.0, &parent_task],
                )
                .await
                .db()?;
            if let Some(existing) = existing {
                return Ok(Err(read_run(&existing)?));
            }
            let id = row.insert(&transaction, &run).await?;
            transaction
                .execute(
                    "UPDATE runs SET parent_run_id = $2, parent_task = $3 WHERE id = $1",
                    &[&id, &parent.run.0, &parent_task],
                )
                .await
                .db()?;
            transaction.commit().await.db()?;
            Ok(Ok(id))
        }
        .await;
        match interval_taken(inserted, &run)? {
            Ok(id) => Ok(row.record(run, id)),
            Err(existing) => Ok(existing),
        }
    }

    /// `create_run_unless_active`: the active run is looked up under the feed's lock, which
    /// every creation of a run takes, so two processes cannot both find none.
    async fn insert_run_unless_active(&self, run: NewRun) -> Result<RunCreation, StoreError> {
        let row = NewRunRow::encode(&run);
        let inserted = async {
            let mut client = self.pool.get().await?;
            let transaction = client.transaction().await.db()?;
            lock_feed(&transaction).await?;
            let active = transaction
                .query_opt(
                    select_runs!(
                        "WHERE workflow = $1 AND interval_start = $2 AND interval_end = $3
                           AND state IN ('queued', 'running')
                         ORDER BY id LIMIT 1"
                    ),
                    &[
                        &run.workflow.as_str(),
                        &encode_timestamp(run.interval.start),
                        &encode_timestamp(run.interval.end),
                    ],
                )
                .await
                .db()?;
            if let Some(active) = active {
                return Ok(Err(read_run(&active)?));
            }
            let id = row.insert(&transaction, &run).await?;
            transaction.commit().await.db()?;
            Ok(Ok(id))
        }
        .await;
        match interval_taken(inserted, &run)? {
            Ok(id) => Ok(RunCreation::Created(row.record(run, id))),
            Err(active) => Ok(RunCreation::Active(active)),
        }
    }
}

#[async_trait]
impl RunStore for PostgresStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        self.insert_run(run).await
    }

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(select_runs!("WHERE id = $1"), &[&id.0])
            .await
            .db()?;
        row.as_ref().map(read_run).transpose()
    }

    async fn workflow_source(&self, id: RunId) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt("SELECT workflow_source FROM runs WHERE id = $1", &[&id.0])
            .await
            .db()?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn task_instances(&self, id: RunId) -> Result<Vec<(TaskName, TaskInstance)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT task, state, attempt, queued_since, started_at, finished_at,
                        not_before, last_attempt, attempt_base, output, lost_attempts
                 FROM task_instances WHERE run_id = $1 ORDER BY position",
                &[&id.0],
            )
            .await
            .db()?;
        if rows.is_empty() && !run_exists(&*client, id).await? {
            return Err(StoreError::NoSuchRun(id));
        }
        rows.iter().map(read_task_instance).collect()
    }

    async fn apply(&self, id: RunId, changes: &[Change]) -> Result<(), StoreError> {
        let batch = Batch::new(id, changes)?;
        let mut client = self.pool.get().await?;
        let (client, statements) = client.split();
        write_batch::write_batch(client, statements, id, None, &batch).await
    }

    async fn apply_owned(
        &self,
        id: RunId,
        owner: ProcessIdentity,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let batch = Batch::new(id, changes)?;
        let mut client = self.pool.get().await?;
        let (client, statements) = client.split();
        write_batch::write_batch(client, statements, id, Some(owner), &batch).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(workflow) = &filter.workflow {
            values.push(Box::new(workflow.as_str().to_owned()));
            conditions.push(format!("workflow = ${}", values.len()));
        }
        if let Some(state) = filter.state {
            values.push(Box::new(codec::encode_run_state_kind(state)));
            conditions.push(format!("state = ${}", values.len()));
        }
        if let Some(backfill) = filter.backfill {
            values.push(Box::new(backfill.0));
            conditions.push(format!("backfill_id = ${}", values.len()));
        }
        if let Some(from) = filter.starts_from {
            values.push(Box::new(encode_timestamp(from)));
            conditions.push(format!("interval_start >= ${}", values.len()));
        }
        if let Some(until) = filter.starts_before {
            values.push(Box::new(encode_timestamp(until)));
            conditions.push(format!("interval_start < ${}", values.len()));
        }
        if let Some(before) = filter.before {
            values.push(Box::new(before.0));
            conditions.push(format!(
                "(created_at, id) < (SELECT created_at, id FROM runs WHERE id = ${})",
                values.len()
            ));
        }
        // `LIMIT NULL` is no limit.
        values.push(Box::new(filter.limit.map(i64::from)));
        let statement = format!(
            "{}{} ORDER BY created_at DESC, id DESC LIMIT ${}",
            select_runs!(""),
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            values.len()
        );
        let parameters: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|value| &**value as &(dyn ToSql + Sync))
            .collect();
        let client = self.pool.get().await?;
        let rows = client.query(&statement, &parameters).await.db()?;
        rows.iter().map(read_run).collect()
    }

    async fn attempts(
        &self,
        id: RunId,
        task: Option<&TaskName>,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = match task {
            Some(task) => client
                .query(
                    "SELECT task, attempt, started_at, pid, start_ticks, finished_at,
                            outcome, output, failure, exit_code, signal, message,
                            failure_class
                     FROM attempts WHERE run_id = $1 AND task = $2 ORDER BY attempt",
                    &[&id.0, &task.as_str()],
                )
                .await
                .db()?,
            None => client
                .query(
                    "SELECT a.task, a.attempt, a.started_at, a.pid, a.start_ticks,
                            a.finished_at, a.outcome, a.output, a.failure, a.exit_code,
                            a.signal, a.message, a.failure_class
                     FROM attempts a JOIN task_instances t USING (run_id, task)
                     WHERE a.run_id = $1
                     ORDER BY t.position, a.attempt",
                    &[&id.0],
                )
                .await
                .db()?,
        };
        if rows.is_empty() {
            if !run_exists(&*client, id).await? {
                return Err(StoreError::NoSuchRun(id));
            }
            if let Some(task) = task
                && !task_exists(&*client, id, task).await?
            {
                return Err(StoreError::NoSuchTask {
                    run: id,
                    task: task.clone(),
                });
            }
        }
        rows.iter().map(read_attempt).collect()
    }

    async fn claim_owner(
        &self,
        id: RunId,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
    ) -> Result<OwnerClaim, StoreError> {
        let (expected_pid, expected_ticks) = expected.map(encode_process).unzip();
        let (owner_pid, owner_ticks) = owner.map(encode_process).unzip();
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        // One conditional `UPDATE`: a second claimer waits for the first's row lock, then
        // PostgreSQL checks the condition again on the row as the first left it, so only one
        // of two claims with the same `expected` succeeds. `IS NOT DISTINCT FROM` compares
        // NULL (no owner) as a value.
        let updated = transaction
            .execute(
                "UPDATE runs SET owner_pid = $2, owner_start_ticks = $3
                 WHERE id = $1 AND owner_pid IS NOT DISTINCT FROM $4
                   AND owner_start_ticks IS NOT DISTINCT FROM $5",
                &[
                    &id.0,
                    &owner_pid,
                    &owner_ticks,
                    &expected_pid,
                    &expected_ticks,
                ],
            )
            .await
            .db()?;
        let claim = if updated == 1 {
            OwnerClaim::Claimed
        } else {
            let current = transaction
                .query_opt(
                    "SELECT owner_pid, owner_start_ticks FROM runs WHERE id = $1",
                    &[&id.0],
                )
                .await
                .db()?;
            match current {
                None => OwnerClaim::NoSuchRun,
                Some(row) => {
                    OwnerClaim::Held(decode_process(row.try_get(0).db()?, row.try_get(1).db()?)?)
                }
            }
        };
        transaction.commit().await.db()?;
        Ok(claim)
    }

    async fn repin_run(
        &self,
        id: RunId,
        expected_owner: Option<ProcessIdentity>,
        version: &RunVersion,
    ) -> Result<Repin, StoreError> {
        let (expected_pid, expected_ticks) = expected_owner.map(encode_process).unzip();
        let tasks: Vec<String> = version.tasks.iter().map(ToString::to_string).collect();
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        // One conditional `UPDATE`, as in `claim_owner`: a concurrent claim or requeue waits
        // for the row lock, and the condition is checked again on the row it left.
        let updated = transaction
            .execute(
                "UPDATE runs SET workflow_hash = $2, workflow_source = $3
                 WHERE id = $1 AND state IN ('failed', 'cancelled')
                   AND owner_pid IS NOT DISTINCT FROM $4
                   AND owner_start_ticks IS NOT DISTINCT FROM $5",
                &[
                    &id.0,
                    &version.workflow_hash.as_str(),
                    &version.workflow_source.as_str(),
                    &expected_pid,
                    &expected_ticks,
                ],
            )
            .await
            .db()?;
        if updated == 0 {
            let refusal = if run_exists(&transaction, id).await? {
                Repin::Refused
            } else {
                Repin::NoSuchRun
            };
            // Ended explicitly: a dropped transaction would go back to the pool still open.
            transaction.rollback().await.db()?;
            return Ok(refusal);
        }
        // The new tasks go after the run's own, in the version's order.
        transaction
            .execute(
                "INSERT INTO task_instances (run_id, task, position, state, last_attempt,
                     attempt_base)
                 SELECT $1, task,
                     position + (SELECT max(position) FROM task_instances WHERE run_id = $1),
                     $2, 0, 0
                 FROM unnest($3::TEXT[]) WITH ORDINALITY AS tasks (task, position)
                 WHERE task NOT IN (SELECT task FROM task_instances WHERE run_id = $1)",
                &[
                    &id.0,
                    &encode_task_state(&TaskInstance::new().state).state,
                    &tasks,
                ],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
        Ok(Repin::Repinned)
    }
}

pub(crate) async fn run_exists(client: &impl GenericClient, id: RunId) -> Result<bool, StoreError> {
    Ok(client
        .query_one("SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)", &[&id.0])
        .await
        .db()?
        .get(0))
}

pub(crate) async fn task_exists(
    client: &impl GenericClient,
    id: RunId,
    task: &TaskName,
) -> Result<bool, StoreError> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM task_instances WHERE run_id = $1 AND task = $2)",
            &[&id.0, &task.as_str()],
        )
        .await
        .db()?
        .get(0))
}
