//! The PostgreSQL store's tests, against the machine's PostgreSQL (127.0.0.1:5432, trust
//! auth, user `postgres`, database `test`; `TIDEWATER_TEST_POSTGRES_URL` names another).
//! Each test works in a schema of its own, dropped at its end. A server that cannot be
//! reached fails every test with a message that says so: it is never skipped.

mod fixtures;
mod postgres_conformance;
mod races;
mod servers;
mod slots;
mod store_open;
mod worker_races;
