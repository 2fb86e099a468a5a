//! What a data-aware schedule (`schedule: { on: [...] }`) starts runs on, and which data
//! interval an upstream change maps to.

use std::fmt;

use chrono::NaiveDate;

use crate::{DataInterval, TableName, Timestamp, Workflow, WorkflowName};

/// One entry of `schedule: { on: [...] }`: a run of the workflow is created for every upstream
/// change of this source, once per change (see the service's data triggers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataTrigger {
    /// `{ table: raw.orders }`: each Delta commit that adds data to a partition whose value is
    /// a date (`dt = 2026-01-03`) starts the run of that date's interval.
    Table(TableName),
    /// `{ workflow: other }`: each succeeded run of `other` starts the run of the interval
    /// that holds the start of its interval.
    Workflow(WorkflowName),
}

impl DataTrigger {
    /// The source as the store records it (`table:raw.orders`, `workflow:other`): one text key
    /// per source, so that what was consumed is unique per workflow, source and change.
    pub fn source_key(&self) -> String {
        match self {
            DataTrigger::Table(table) => format!("table:{table}"),
            DataTrigger::Workflow(workflow) => format!("workflow:{workflow}"),
        }
    }
}

/// What a workflow scheduled by this trigger waits for, as `next` and the UI say it:
/// "a commit to raw.orders", "a successful run of workflow daily_orders".
impl fmt::Display for DataTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataTrigger::Table(table) => write!(f, "a commit to {table}"),
            DataTrigger::Workflow(workflow) => {
                write!(f, "a successful run of workflow {workflow}")
            }
        }
    }
}

impl Workflow {
    /// The interval of this workflow for a partition date: the schedule's interval on that
    /// date, or the whole local day without a cron (a data-only schedule is daily).
    pub fn data_interval_for_date(&self, date: NaiveDate) -> Option<DataInterval> {
        match &self.schedule {
            Some(schedule) => schedule.interval_for_date(date, self.timezone),
            None => Some(DataInterval::day(date, self.timezone)),
        }
    }

    /// The interval of this workflow that holds `at`: the schedule's, or the local day
    /// without a cron. An upstream run of the same schedule maps to the same interval.
    pub fn data_interval_holding(&self, at: Timestamp) -> Option<DataInterval> {
        match &self.schedule {
            Some(schedule) => schedule.interval_holding(at, self.timezone),
            None => Some(DataInterval::day(
                at.with_timezone(&self.timezone).date_naive(),
                self.timezone,
            )),
        }
    }
}

/// The date a partition value names, when it names one: `2026-01-03`, or a timestamp whose
/// first ten characters are that date (`2026-01-03T00:00:00`, `2026-01-03 00:00:00`).
pub fn partition_date(value: &str) -> Option<NaiveDate> {
    let day = value.get(..10)?;
    let rest = &value[10..];
    if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with(' ')) {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dates_are_dates_or_timestamps_that_start_with_one() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 3);
        assert_eq!(partition_date("2026-01-03"), date);
        assert_eq!(partition_date("2026-01-03T00:00:00Z"), date);
        assert_eq!(partition_date("2026-01-03 12:00:00"), date);
        assert_eq!(partition_date("2026-01-031"), None);
        assert_eq!(partition_date("eu"), None);
        assert_eq!(partition_date("2026-13-03"), None);
    }

    #[test]
    fn an_upstream_instant_maps_to_the_interval_of_the_cron_that_holds_it() {
        let hourly = crate::Schedule::parse("@hourly").expect("valid");
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .expect("valid time")
                .to_utc()
        };
        let holding = |text: &str| {
            hourly
                .interval_holding(at(text), chrono_tz::UTC)
                .expect("an interval")
        };
        // On a fire time, the interval it starts; between two, the one it is in.
        assert_eq!(
            holding("2026-01-03T05:00:00Z").start,
            at("2026-01-03T05:00:00Z")
        );
        assert_eq!(
            holding("2026-01-03T05:30:00Z").start,
            at("2026-01-03T05:00:00Z")
        );
        assert_eq!(
            holding("2026-01-03T05:30:00Z").end,
            at("2026-01-03T06:00:00Z")
        );
    }

    #[test]
    fn sources_are_told_apart_by_kind() {
        let table = DataTrigger::Table("raw.orders".parse().expect("a valid name"));
        let workflow = DataTrigger::Workflow(WorkflowName::new("raw.orders"));
        assert_ne!(table.source_key(), workflow.source_key());
        assert_eq!(table.to_string(), "a commit to raw.orders");
    }
}
