//! Placeholder: implemented by the store work.
pub struct SqliteStore;
