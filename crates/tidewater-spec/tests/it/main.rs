//! Integration tests of tidewater-spec: real project folders, real files.

mod diagnostics;
mod engines;
mod project;
mod robustness;
mod scale;
mod support;
mod templates;
mod valid_workflows;
mod views;
