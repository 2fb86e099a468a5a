//! The real `tidewater` binary on real project folders.

mod cancel;
mod cli;
mod crash;
mod project;
mod runs;
mod service;
mod store;
mod warehouse;
