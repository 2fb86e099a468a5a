//! [`RunDateRange`]: the runs whose data interval starts in a range of dates or times, as a
//! front end is asked for them (`tidewater runs --from D --to D`, the API's `?from=&to=`).

use chrono::TimeDelta;
use tidewater_core::{DataInterval, Timestamp};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};
use crate::time_arg::{parse_date, parse_time};

/// Where a listed run's data interval may start: from `starts_from` (included) to
/// `starts_before` (excluded), as [`tidewater_store::RunFilter`] takes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunDateRange {
    pub starts_from: Option<Timestamp>,
    pub starts_before: Option<Timestamp>,
}

impl Control {
    /// The range of interval starts that `from` and `to` ask for, both included: each is a
    /// date (`YYYY-MM-DD`: `to` then takes in the whole day) or an RFC 3339 time. Dates are
    /// days in the zone of `workflow` when it is given and its file loads (the zone its runs'
    /// `ds` are dates in), else in UTC. A date that is not one, or `from` after `to`, is
    /// [`ControlError::Invalid`].
    pub fn run_date_range(
        &self,
        workflow: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> ControlResult<RunDateRange> {
        if from.is_none() && to.is_none() {
            return Ok(RunDateRange::default());
        }
        // A workflow that no longer loads still has runs to list: its dates are then UTC days.
        let timezone = workflow
            .and_then(|name| self.load_workflow(name).ok())
            .map_or(chrono_tz::UTC, |loaded| loaded.workflow.timezone);
        let named = |what: &str, error: ControlError| match error {
            ControlError::Invalid(message) => ControlError::Invalid(format!("`{what}`: {message}")),
            other => other,
        };
        let starts_from = from
            .map(|text| parse_time(text, timezone))
            .transpose()
            .map_err(|error| named("from", error))?;
        let starts_before = to
            .map(|text| match parse_date(text) {
                // The whole day: up to the next day's midnight.
                Ok(date) => {
                    let next = date.succ_opt().ok_or_else(|| {
                        ControlError::Invalid(format!("`{text}` is the last date there is"))
                    })?;
                    Ok(DataInterval::day(next, timezone).start)
                }
                // A time: that instant included; the store keeps microseconds.
                Err(_) => parse_time(text, timezone).map(|time| time + TimeDelta::microseconds(1)),
            })
            .transpose()
            .map_err(|error| named("to", error))?;
        if let (Some(from_time), Some(before)) = (starts_from, starts_before)
            && from_time >= before
        {
            return Err(ControlError::Invalid(format!(
                "`from` ({}) is after `to` ({})",
                from.unwrap_or_default(),
                to.unwrap_or_default()
            )));
        }
        Ok(RunDateRange {
            starts_from,
            starts_before,
        })
    }
}
