//! What the SQL backends share, so that they store the same values and can never drift
//! apart (`tidewater store migrate-from-sqlite` copies rows as they are): the [`codec`] of
//! column values, and the grouping of one `apply`'s changes into rows ([`batch`]). Plain
//! Rust over the core's types: no database driver, no query language.

pub mod batch;
pub mod codec;
