//! How the driver's errors become the store's: [`OrStore::db`] boxes a `tokio_postgres`
//! error into [`StoreError::Backend`], where [`StoreError::backend_error`] finds it again (a
//! unique violation is told apart that way), and no driver type leaves the crate.

use tidewater_store::StoreError;
use tokio_postgres::error::SqlState;

pub(super) trait OrStore<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> OrStore<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(backend)
    }
}

/// The driver's error, boxed.
pub(super) fn backend(error: tokio_postgres::Error) -> StoreError {
    StoreError::Backend {
        source: Box::new(error),
    }
}

/// A unique index (or primary key) refused a row.
pub(super) fn is_unique_violation(error: &StoreError) -> bool {
    error
        .backend_error::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A foreign key refused a row.
pub(super) fn is_foreign_key_violation(error: &StoreError) -> bool {
    error
        .backend_error::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}
