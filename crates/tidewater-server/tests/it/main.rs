//! The API's document against its routes. The routes themselves are tested on the real
//! binary over loopback (the `tidewater` crate's `tests/it/api.rs`).

mod document;
