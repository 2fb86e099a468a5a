//! The one minijinja setup shared by validation and rendering, so that a template that
//! validates is rendered by exactly the same rules.

use std::sync::LazyLock;

use chrono::{DateTime, Days, FixedOffset, NaiveDate, SecondsFormat, TimeDelta};
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// The environment attempts render with.
pub(crate) fn template_environment() -> &'static Environment<'static> {
    static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(configured_environment);
    &ENVIRONMENT
}

/// The same environment with a fuel limit, for rendering templates with sample values while
/// validating: a template that loops a billion times must not hang `tidewater validate`.
pub(crate) fn validation_environment() -> &'static Environment<'static> {
    static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
        let mut environment = configured_environment();
        environment.set_fuel(Some(VALIDATION_FUEL));
        environment
    });
    &ENVIRONMENT
}

/// Instructions a sample render may run; far more than any command template needs.
const VALIDATION_FUEL: u64 = 100_000;

/// Strict about undefined variables (a typo must fail the task, not run a command with an
/// empty argument), no HTML escaping, trailing newlines kept, and the date filters below.
#[expect(
    clippy::expect_used,
    reason = "a fixed configuration, valid in every build (a unit test builds it)"
)]
fn configured_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters with keep_trailing_newline are a valid syntax"),
    );
    environment.add_filter("add_days", add_days);
    environment.add_filter("add_hours", add_hours);
    environment.add_filter("strftime", strftime);
    environment
}

/// The date and time strings templates see: `ds` (`2026-01-01`) or an RFC 3339 date-time
/// such as `data_interval_start`.
enum DateText {
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
}

impl DateText {
    fn parse(text: &str, filter: &str) -> Result<DateText, Error> {
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(DateText::Date(date));
        }
        DateTime::parse_from_rfc3339(text)
            .map(DateText::DateTime)
            .map_err(|_| {
                invalid(format!(
                    "`{filter}` works on a date (YYYY-MM-DD) or an RFC 3339 date-time, found `{text}`"
                ))
            })
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn format_date_time(value: DateTime<FixedOffset>) -> String {
    value.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// `{{ ds | add_days(-1) }}`: calendar days, so the local time of day is kept across DST.
fn add_days(value: String, days: i64) -> Result<String, Error> {
    let magnitude = Days::new(days.unsigned_abs());
    let out_of_range = || invalid(format!("`add_days({days})` leaves the calendar"));
    match DateText::parse(&value, "add_days")? {
        DateText::Date(date) => {
            let shifted = if days >= 0 {
                date.checked_add_days(magnitude)
            } else {
                date.checked_sub_days(magnitude)
            };
            Ok(shifted
                .ok_or_else(out_of_range)?
                .format("%Y-%m-%d")
                .to_string())
        }
        DateText::DateTime(time) => {
            let shifted = if days >= 0 {
                time.checked_add_days(magnitude)
            } else {
                time.checked_sub_days(magnitude)
            };
            Ok(format_date_time(shifted.ok_or_else(out_of_range)?))
        }
    }
}

/// `{{ data_interval_start | add_hours(1) }}`: elapsed hours on a date-time.
fn add_hours(value: String, hours: i64) -> Result<String, Error> {
    let out_of_range = || invalid(format!("`add_hours({hours})` leaves the calendar"));
    match DateText::parse(&value, "add_hours")? {
        DateText::Date(_) => Err(invalid(format!(
            "`add_hours` works on a date-time such as `data_interval_start`, found the date `{value}`"
        ))),
        DateText::DateTime(time) => {
            let delta = TimeDelta::try_hours(hours).ok_or_else(out_of_range)?;
            let shifted = time.checked_add_signed(delta).ok_or_else(out_of_range)?;
            Ok(format_date_time(shifted))
        }
    }
}

/// `{{ data_interval_start | strftime("%Y/%m") }}` with chrono's format specifiers.
fn strftime(value: String, format: String) -> Result<String, Error> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write;

    let items: Vec<Item<'_>> = StrftimeItems::new(&format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(invalid(format!(
            "`{format}` is not a valid strftime format"
        )));
    }
    let mut output = String::new();
    // Formatting can still fail, e.g. `%z` on a plain date; chrono reports it through
    // fmt::Error, which `to_string` would turn into a panic.
    let written = match DateText::parse(&value, "strftime")? {
        DateText::Date(date) => write!(output, "{}", date.format_with_items(items.into_iter())),
        DateText::DateTime(time) => {
            write!(output, "{}", time.format_with_items(items.into_iter()))
        }
    };
    written.map_err(|_| {
        invalid(format!(
            "`{format}` asks for something `{value}` does not have (a time or a zone?)"
        ))
    })?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_days_moves_dates_and_date_times_by_calendar_days() {
        assert_eq!(
            add_days("2026-01-01".into(), -1).ok(),
            Some("2025-12-31".into())
        );
        assert_eq!(
            add_days("2026-01-01T00:00:00+09:00".into(), 31).ok(),
            Some("2026-02-01T00:00:00+09:00".into())
        );
    }

    #[test]
    fn strftime_formats_dates_and_refuses_bad_formats() {
        assert_eq!(
            strftime("2026-03-05T10:00:00+09:00".into(), "%Y/%m".into()).ok(),
            Some("2026/03".into())
        );
        assert_eq!(
            strftime("2026-03-05".into(), "%Y%m%d".into()).ok(),
            Some("20260305".into())
        );
        assert!(strftime("2026-03-05".into(), "%Q".into()).is_err());
        assert!(strftime("2026-03-05".into(), "%H:%M %z".into()).is_err());
    }

    #[test]
    fn date_filters_refuse_text_that_is_not_a_date() {
        assert!(add_days("yesterday".into(), 1).is_err());
        assert!(add_hours("2026-01-01".into(), 1).is_err());
        assert!(add_days("2026-01-01".into(), i64::MAX).is_err());
    }
}
