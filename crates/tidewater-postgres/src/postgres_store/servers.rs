//! [`ServerStore`] for [`PostgresStore`]: the servers' leases and the leader's, in the tables
//! of `migrations/0003_servers.sql`.
//!
//! Every expiry is set and compared with the database's `clock_timestamp()` (the time of the
//! statement, not of its transaction's start) inside the one statement that decides, so no
//! server's clock takes part, and each decision is one statement that PostgreSQL re-checks
//! on the row's newest version when two servers race for it.

use std::time::Duration;

use async_trait::async_trait;
use tidewater_store::{
    LiveServers, ServerId, ServerRecord, ServerRegistration, ServerStore, StoreError,
};

use super::PostgresStore;
use super::codec::decode_timestamp;
use super::failure::OrStore;

/// A lease's length as the statements take it: whole milliseconds.
fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl ServerStore for PostgresStore {
    async fn register_server(
        &self,
        server: &ServerRegistration,
        lease: Duration,
    ) -> Result<ServerId, StoreError> {
        let client = self.pool.get().await?;
        let id: i64 = client
            .query_one(
                "INSERT INTO servers (host, pid, registered_at, expires_at)
                 VALUES ($1, $2, clock_timestamp(),
                         clock_timestamp() + $3::BIGINT * INTERVAL '1 millisecond')
                 RETURNING id",
                &[&server.host, &server.pid, &millis(lease)],
            )
            .await
            .db()?
            .get(0);
        Ok(ServerId(id))
    }

    async fn renew_server(&self, server: ServerId, lease: Duration) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let renewed = client
            .execute(
                "UPDATE servers
                 SET expires_at = clock_timestamp() + $2::BIGINT * INTERVAL '1 millisecond'
                 WHERE id = $1 AND expires_at > clock_timestamp()",
                &[&server.0, &millis(lease)],
            )
            .await
            .db()?;
        Ok(renewed == 1)
    }

    async fn end_server(&self, server: ServerId) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "DELETE FROM server_leader WHERE server_id = $1",
                &[&server.0],
            )
            .await
            .db()?;
        // The row stays (its id is never given again), expired.
        transaction
            .execute(
                "UPDATE servers SET expires_at = least(expires_at, clock_timestamp())
                 WHERE id = $1",
                &[&server.0],
            )
            .await
            .db()?;
        transaction.commit().await.db()
    }

    async fn live_servers(&self) -> Result<LiveServers, StoreError> {
        let mut client = self.pool.get().await?;
        // One snapshot for both statements, so that the highest id is that of the same look.
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .db()?;
        let highest_id: Option<i64> = transaction
            .query_one("SELECT max(id) FROM servers", &[])
            .await
            .db()?
            .get(0);
        let rows = transaction
            .query(
                "SELECT s.id, s.host, s.pid,
                        (extract(epoch FROM s.registered_at) * 1000000)::BIGINT,
                        (extract(epoch FROM s.expires_at) * 1000000)::BIGINT,
                        l.server_id IS NOT NULL AND l.expires_at > clock_timestamp()
                 FROM servers s LEFT JOIN server_leader l ON l.server_id = s.id
                 WHERE s.expires_at > clock_timestamp()
                 ORDER BY s.id",
                &[],
            )
            .await
            .db()?;
        let servers = rows
            .iter()
            .map(|row| {
                Ok(ServerRecord {
                    id: ServerId(row.try_get(0).db()?),
                    host: row.try_get(1).db()?,
                    pid: row.try_get(2).db()?,
                    registered_at: decode_timestamp(row.try_get(3).db()?, "servers.registered_at")?,
                    expires_at: decode_timestamp(row.try_get(4).db()?, "servers.expires_at")?,
                    is_leader: row.try_get(5).db()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        transaction.commit().await.db()?;
        Ok(LiveServers {
            servers,
            highest_id: highest_id.map(ServerId),
        })
    }

    async fn lead(&self, server: ServerId, lease: Duration) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        // One statement: a first leader inserts the row (two at once: the second waits on the
        // key, then takes the `ON CONFLICT` path, which re-reads the row the first left and
        // finds it held). The leadership changes hands only while its holder's lease, or the
        // holder's own, has expired; only a live server may take it.
        let leads = client
            .query_opt(
                "INSERT INTO server_leader (id, server_id, expires_at)
                 SELECT 1, $1, clock_timestamp() + $2::BIGINT * INTERVAL '1 millisecond'
                 WHERE EXISTS (SELECT 1 FROM servers
                               WHERE id = $1 AND expires_at > clock_timestamp())
                 ON CONFLICT (id) DO UPDATE
                 SET server_id = excluded.server_id, expires_at = excluded.expires_at
                 WHERE server_leader.server_id = excluded.server_id
                    OR server_leader.expires_at <= clock_timestamp()
                    OR NOT EXISTS (SELECT 1 FROM servers
                                   WHERE id = server_leader.server_id
                                     AND expires_at > clock_timestamp())
                 RETURNING server_id",
                &[&server.0, &millis(lease)],
            )
            .await
            .db()?;
        Ok(leads.is_some())
    }

    async fn resign(&self, server: ServerId) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM server_leader WHERE server_id = $1",
                &[&server.0],
            )
            .await
            .db()?;
        Ok(())
    }
}
