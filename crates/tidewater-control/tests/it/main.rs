//! The use cases called as a library, on real project folders with a real store.

mod project;
mod read_models;
