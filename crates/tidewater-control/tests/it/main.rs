//! The use cases called as a library, as the HTTP API will call them: typed results and
//! errors classified by who must act.

mod support;
mod use_cases;
