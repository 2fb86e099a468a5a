//! The SQLite backend of the store: [`SqliteStore`] keeps runs, task instances and attempts
//! in one SQLite file that several `tidewater` processes share, and implements
//! `tidewater_store`'s traits.
//!
//! It also owns what only a SQLite file has: the online [`SqliteStore::backup`], the report of
//! `tidewater store check` ([`StoreReport`]) and the checks of the files under an open store
//! ([`FilesChange`], [`SqliteStoreError`]). This is the only crate that knows SQL or depends
//! on rusqlite; no rusqlite type appears in its public signatures. It makes no scheduling
//! decisions.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod sqlite_store;
mod sqlite_store_error;

pub use sqlite_store::{
    BackupTarget, FilesChange, HISTORY_TABLES, SqliteStore, StoreContents, StoreProblem,
    StoreReport, TableRows,
};
pub use sqlite_store_error::SqliteStoreError;
