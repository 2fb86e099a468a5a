//! JSON shapes of the warehouse's tables (`tidewater tables --json`).

use serde::Serialize;
use tidewater_core::DataInterval;

/// One table's description is the warehouse's own shape, serialised as it is.
pub use tidewater_flow::TableDescription;

use crate::missing_intervals::MissingIntervals;
use crate::tables::TableList;

/// An interval whose partition is missing; its ends in the workflow's zone.
#[derive(Debug, Serialize)]
pub struct MissingJson {
    pub ds: String,
    pub data_interval_start: String,
    pub data_interval_end: String,
}

impl MissingJson {
    pub fn new(interval: &DataInterval, timezone: chrono_tz::Tz) -> MissingJson {
        MissingJson {
            ds: interval.ds(timezone).to_string(),
            data_interval_start: interval.start.with_timezone(&timezone).to_rfc3339(),
            data_interval_end: interval.end.with_timezone(&timezone).to_rfc3339(),
        }
    }

    /// Every missing interval, oldest first.
    pub fn list(missing: &MissingIntervals) -> Vec<MissingJson> {
        missing
            .intervals
            .iter()
            .map(|interval| MissingJson::new(interval, missing.timezone))
            .collect()
    }
}

/// The table list: their names.
pub fn table_names_json(list: &TableList) -> Vec<String> {
    list.tables.iter().map(ToString::to_string).collect()
}
