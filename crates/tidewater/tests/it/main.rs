//! The real `tidewater` binary on real project folders.

mod cancel;
mod cli;
mod crash;
mod escape;
mod logs;
mod project;
mod runs;
mod service;
mod warehouse;
