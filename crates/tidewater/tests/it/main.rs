//! The real `tidewater` binary on real project folders.

mod backfill_scale;
mod cancel;
mod cli;
mod crash;
mod project;
mod runs;
mod same_interval;
mod service;
mod warehouse;
