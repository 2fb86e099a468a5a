//! The use cases called directly, as a front end calls them: each test builds a small
//! project in a temporary folder and asserts what the use case returned and recorded.

mod backfill;
mod project;
