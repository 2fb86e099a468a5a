//! The real `tidewater` binary on real project folders.

mod cancel;
mod cli;
mod crash;
mod full_disk;
mod project;
mod runs;
mod service;
mod warehouse;
