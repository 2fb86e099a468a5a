//! Durations as workflow files write them: `500ms`, `30s`, `5m`, `1h30m`, `2days`.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDuration {
    /// Not written as a duration.
    #[error("{0}")]
    Malformed(String),
    /// A well-formed duration beyond the longest accepted (100 years).
    #[error("it is longer than {LONGEST_DAYS} days, the longest duration accepted")]
    TooLong,
}

/// Parses a duration with units (humantime's syntax). A bare number is refused: `30` could
/// mean seconds or minutes, and a wrong guess is a silent bug.
pub fn parse_duration(text: &str) -> Result<Duration, InvalidDuration> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InvalidDuration::Malformed("it is empty".to_owned()));
    }
    if trimmed.chars().all(|character| character.is_ascii_digit()) {
        return Err(InvalidDuration::Malformed(
            "a unit is missing (ms, s, m, h, days)".to_owned(),
        ));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|error| InvalidDuration::Malformed(error.to_string()))?;
    if duration > LONGEST {
        return Err(InvalidDuration::TooLong);
    }
    Ok(duration)
}

/// The longest duration accepted: a hundred years. Every duration is added to a point in
/// time somewhere (a timeout's deadline, a retry's next start), and far longer ones would
/// leave the calendar's range; none of them means anything for a task.
const LONGEST: Duration = Duration::from_secs(LONGEST_DAYS * 86_400);
pub(crate) const LONGEST_DAYS: u64 = 36_500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn refuses_a_duration_longer_than_a_hundred_years() {
        assert_eq!(
            parse_duration("36500days"),
            Ok(Duration::from_secs(36_500 * 86_400))
        );
        let error = parse_duration("1000000000d").expect_err("too long");
        assert_eq!(error, InvalidDuration::TooLong);
        assert!(error.to_string().contains("36500 days"), "{error}");
    }

    #[test]
    fn refuses_a_number_without_unit() {
        let error = parse_duration("30").expect_err("no unit");
        assert!(error.to_string().contains("unit"), "{error}");
    }

    #[test]
    fn refuses_unknown_units_and_garbage() {
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
