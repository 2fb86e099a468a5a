//! [`Failure`]: what the code beside the connection fails with, before it leaves the backend.

use tidewater_store::StoreError;

use crate::SqliteStoreError;

/// Either SQLite's own error, kept as rusqlite's type so that [`super::connection::Link`] can
/// retry a busy file and `create_run` can tell a unique index's refusal, or an error already
/// in the contract's terms. `?` turns both into it; [`super::connection::Link`] turns it into
/// a [`StoreError`] as it hands a result back, so that no rusqlite type leaves this crate
/// except boxed inside [`StoreError::Backend`].
#[derive(Debug)]
pub(super) enum Failure {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        Failure::Sqlite(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

impl From<SqliteStoreError> for Failure {
    fn from(error: SqliteStoreError) -> Failure {
        Failure::Store(error.into())
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Sqlite(error) => StoreError::Backend {
                source: Box::new(error),
            },
            Failure::Store(error) => error,
        }
    }
}
