//! The real `tidewater` binary on real project folders.

mod api;
mod api_client;
mod api_reads;
mod auth;
mod backfill_scale;
mod bounds;
mod cancel;
mod cli;
mod crash;
mod escape;
mod events;
mod full_disk;
mod logs;
mod project;
mod retries;
mod runs;
mod same_interval;
mod schemathesis;
mod service;
mod store;
mod store_url;
mod summaries;
mod task_test;
mod times;
mod warehouse;
mod workflows;
