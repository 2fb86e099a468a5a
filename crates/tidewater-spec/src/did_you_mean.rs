//! "Did you mean ...?" suggestions for misspelled names.

/// The candidate closest to `name`, if one is close enough to be a plausible typo.
///
/// Called only once a name is known to be wrong, so its cost (linear in the candidates) is
/// never paid for valid files.
pub(crate) fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    let lowered = name.to_lowercase();
    let allowed_edits = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .filter_map(|candidate| {
            let edits = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            let similarity = strsim::jaro_winkler(&lowered, &candidate.to_lowercase());
            (edits <= allowed_edits || similarity >= 0.9).then_some((edits, candidate))
        })
        .min_by_key(|(edits, _)| *edits)
        .map(|(_, candidate)| candidate.to_owned())
}

/// Keys other workflow tools use for what Tidewater names otherwise, with Tidewater's name:
/// a user coming from Airflow writes `depends_on` or `bash_command`, one from Digdag or
/// Dagster `upstream` or `command`. Offered only where the Tidewater key is expected.
const OTHER_TOOLS_KEYS: [(&str, &str); 9] = [
    ("depends_on", "needs"),
    ("dependencies", "needs"),
    ("upstream", "needs"),
    ("after", "needs"),
    ("bash_command", "sh"),
    ("command", "sh"),
    ("execution_timeout", "timeout"),
    ("retry_delay_seconds", "retry_delay"),
    ("max_retries", "retries"),
];

/// The key `name` means where one of `expected` is wanted: a key of another tool, or else a
/// plausible typo of an expected one.
pub(crate) fn did_you_mean_key(name: &str, expected: &[&str]) -> Option<String> {
    OTHER_TOOLS_KEYS
        .iter()
        .find(|(other, ours)| *other == name && expected.contains(ours))
        .map(|(_, ours)| (*ours).to_owned())
        .or_else(|| did_you_mean(name, expected.iter().copied()))
}

/// Like [`did_you_mean`], and also matches a bare city (`Seoul`) to its zone (`Asia/Seoul`).
pub(crate) fn did_you_mean_timezone(name: &str) -> Option<String> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name());
    let lowered = name.to_lowercase().replace(' ', "_");
    names()
        .find(|zone| {
            let zone = zone.to_lowercase();
            zone == lowered || zone.rsplit('/').next() == Some(lowered.as_str())
        })
        .map(str::to_owned)
        .or_else(|| did_you_mean(name, names()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_close_key() {
        let keys = ["retries", "retry_delay", "timeout", "pool"];
        assert_eq!(did_you_mean("retires", keys), Some("retries".to_owned()));
        assert_eq!(did_you_mean("timout", keys), Some("timeout".to_owned()));
    }

    #[test]
    fn suggests_our_key_for_another_tools_key_only_where_it_is_expected() {
        let task_keys = ["needs", "sh", "retries", "timeout"];
        assert_eq!(
            did_you_mean_key("depends_on", &task_keys),
            Some("needs".to_owned())
        );
        assert_eq!(
            did_you_mean_key("bash_command", &task_keys),
            Some("sh".to_owned())
        );
        assert_eq!(did_you_mean_key("depends_on", &["schedule", "tasks"]), None);
        assert_eq!(
            did_you_mean_key("retires", &task_keys),
            Some("retries".to_owned())
        );
    }

    #[test]
    fn suggests_nothing_for_an_unrelated_name() {
        assert_eq!(did_you_mean("zzz", ["retries", "pool"]), None);
    }

    #[test]
    fn suggests_a_time_zone_from_a_typo_or_a_city() {
        assert_eq!(
            did_you_mean_timezone("Asia/Seol"),
            Some("Asia/Seoul".to_owned())
        );
        assert_eq!(
            did_you_mean_timezone("seoul"),
            Some("Asia/Seoul".to_owned())
        );
    }
}
