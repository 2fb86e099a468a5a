//! [`Pool`]: a few connections to the server, handed out one task at a time.
//!
//! Hand-written rather than deadpool-postgres: the store needs only "a connection for this
//! transaction, or wait", and a dozen lines give that without a dependency. A connection
//! that broke (the server restarted, the network dropped) is dropped when handed back and a
//! new one is made on the next demand, so the store heals without a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use tidewater_store::StoreError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls, Statement, Transaction};

use super::failure::OrStore;

/// At most `size` connections, made on demand.
pub(super) struct Pool {
    config: Config,
    idle: Mutex<Vec<(Client, Statements)>>,
    permits: std::sync::Arc<Semaphore>,
}

/// A connection lent by the pool; it goes back when dropped.
pub(super) struct Pooled<'p> {
    client: Option<Client>,
    statements: Statements,
    pool: &'p Pool,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub(super) fn new(config: Config, size: usize) -> Pool {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
            permits: std::sync::Arc::new(Semaphore::new(size)),
        }
    }

    /// A connection, once one of the `size` is free.
    pub(super) async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let permit = std::sync::Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::BackendCondition("the store was closed".into()))?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let (client, statements) = match idle {
            Some((client, statements)) if !client.is_closed() => (client, statements),
            _ => (self.connect().await.db()?, Statements::default()),
        };
        Ok(Pooled {
            client: Some(client),
            statements,
            pool: self,
            _permit: permit,
        })
    }

    /// A new connection, its IO driven by a task of its own until the client is dropped.
    pub(super) async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            // Its error reaches the client's next query, which reports it.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Closes the idle connections (the lent ones close as they come back).
    pub(super) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// The statements a connection has prepared, by their text: a statement of the store's is
/// prepared once per connection, not once per use (a prepare is a round trip to the server).
#[derive(Default)]
pub(super) struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    /// `text` prepared on `transaction`'s connection, from the cache once it was.
    pub(super) async fn prepared(
        &mut self,
        transaction: &Transaction<'_>,
        text: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(statement) = self.0.get(text) {
            return Ok(statement.clone());
        }
        let statement = transaction.prepare(text).await.db()?;
        self.0.insert(text, statement.clone());
        Ok(statement)
    }
}

impl Pooled<'_> {
    /// The connection and its prepared statements, borrowed apart so that a transaction of
    /// the one can use the other.
    pub(super) fn split(&mut self) -> (&mut Client, &mut Statements) {
        let client = self
            .client
            .as_mut()
            .unwrap_or_else(|| unreachable!("the client is taken only on drop"));
        (client, &mut self.statements)
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("the client is taken only on drop"))
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .unwrap_or_else(|| unreachable!("the client is taken only on drop"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
            && !self.pool.permits.is_closed()
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((client, std::mem::take(&mut self.statements)));
        }
    }
}
