//! The use cases called directly, as a front end (the CLI, the HTTP API) calls them: each
//! test builds a small project in a temporary folder and asserts what the use case returned
//! (typed results, errors classified by who must act) and what it recorded.

mod backfill;
mod project;
mod read_models;
mod support;
mod use_cases;
