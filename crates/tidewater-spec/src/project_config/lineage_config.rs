//! `[lineage]`: where OpenLineage run events of `sql` tasks go.

use std::time::Duration;

use super::{ConfigReader, Key, Value};
use crate::{ProblemKind, parse_duration};

/// `[lineage]` of `tidewater.toml`: every `sql` attempt sends an OpenLineage START event and
/// a COMPLETE, FAIL or ABORT event to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageConfig {
    /// Where events are POSTed. A URL without a path is a lineage server's base URL, and
    /// gets OpenLineage's endpoint `/api/v1/lineage` (Marquez's, the clients' default);
    /// a URL with a path is used exactly as written.
    pub url: String,
    /// The namespace of the jobs (`workflow.task`); by default the project folder's name.
    pub namespace: String,
    /// How long one event may take to deliver before it is given up (default
    /// [`DEFAULT_LINEAGE_TIMEOUT`]): a lineage server that never answers holds an attempt
    /// at most twice this long (its start and its end).
    pub timeout: Duration,
}

/// How long one lineage event may take unless `[lineage] timeout` says otherwise.
pub const DEFAULT_LINEAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// OpenLineage's HTTP endpoint below a server's base URL.
const LINEAGE_ENDPOINT: &str = "/api/v1/lineage";

const LINEAGE_KEYS: &[&str] = &["namespace", "timeout", "url"];

impl ConfigReader<'_> {
    /// `[lineage]`; `project_name` is the default namespace. `None` (with the problems
    /// reported) unless it has a valid `url` and every other setting is valid.
    pub(super) fn lineage(
        &mut self,
        key: &Key<'_>,
        value: &Value<'_>,
        project_name: &str,
    ) -> Option<LineageConfig> {
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return None;
        };
        let mut url = None;
        let mut namespace = Some(project_name.to_owned());
        let mut timeout = Some(DEFAULT_LINEAGE_TIMEOUT);
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "url" => match setting_value.get_ref().as_str() {
                    Some(text) => url = self.lineage_url(text, setting_value),
                    None => self.wrong_type(
                        "lineage.url",
                        "a string such as \"http://127.0.0.1:5000\"",
                        setting_value,
                    ),
                },
                "namespace" => match setting_value.get_ref().as_str() {
                    Some(text) if !text.trim().is_empty() => namespace = Some(text.to_owned()),
                    _ => {
                        namespace = None;
                        self.wrong_type("lineage.namespace", "a non-empty string", setting_value);
                    }
                },
                "timeout" => {
                    timeout = None;
                    match setting_value.get_ref().as_str().map(parse_duration) {
                        Some(Ok(duration)) if !duration.is_zero() => timeout = Some(duration),
                        Some(Ok(_)) => self.report(
                            ProblemKind::InvalidValue {
                                what: "a lineage timeout of zero gives every event up at once"
                                    .to_owned(),
                                hint: Some("e.g. `timeout = \"5s\"`".to_owned()),
                            },
                            setting_value.span(),
                        ),
                        Some(Err(error)) => self.report(
                            ProblemKind::InvalidValue {
                                what: format!("`lineage.timeout` is not a duration: {error}"),
                                hint: Some("e.g. `timeout = \"5s\"`".to_owned()),
                            },
                            setting_value.span(),
                        ),
                        None => self.wrong_type(
                            "lineage.timeout",
                            "a string such as \"5s\"",
                            setting_value,
                        ),
                    }
                }
                _ => self.unknown_key(setting, "`[lineage]`", LINEAGE_KEYS),
            }
        }
        if table.get("url").is_none() {
            self.report(
                ProblemKind::MissingKey {
                    key: "url",
                    context: "`[lineage]`".to_owned(),
                    example: "url = \"http://127.0.0.1:5000\"",
                },
                key.span(),
            );
        }
        Some(LineageConfig {
            url: url?,
            namespace: namespace?,
            timeout: timeout?,
        })
    }

    /// An `http` or `https` URL with a host; one without a path gets OpenLineage's endpoint.
    fn lineage_url(&mut self, text: &str, value: &Value<'_>) -> Option<String> {
        let hint = Some(
            "give the lineage server's URL, e.g. `url = \"http://127.0.0.1:5000\"` (Marquez), \
             or the full URL that receives the events"
                .to_owned(),
        );
        let mut url = match url::Url::parse(text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
            Ok(url) => {
                self.report(
                    ProblemKind::InvalidValue {
                        what: format!(
                            "`{text}` is not an http or https URL (its scheme is `{}`)",
                            url.scheme()
                        ),
                        hint,
                    },
                    value.span(),
                );
                return None;
            }
            Err(error) => {
                self.report(
                    ProblemKind::InvalidValue {
                        what: format!("`{text}` is not a URL: {error}"),
                        hint,
                    },
                    value.span(),
                );
                return None;
            }
        };
        if url.path() == "/" {
            url.set_path(LINEAGE_ENDPOINT);
        }
        Some(url.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Diagnostics, ProjectConfig};

    fn parse(text: &str) -> Result<ProjectConfig, Diagnostics> {
        ProjectConfig::parse(
            Path::new("/projects/analytics"),
            Path::new("/projects/analytics/tidewater.toml"),
            text,
        )
    }

    fn lineage(text: &str) -> LineageConfig {
        parse(text)
            .expect("valid")
            .lineage
            .expect("a lineage setting")
    }

    #[test]
    fn a_server_url_gets_the_openlineage_endpoint_and_the_project_name_as_namespace() {
        assert_eq!(
            lineage("[lineage]\nurl = \"http://127.0.0.1:5000\"\n"),
            LineageConfig {
                url: "http://127.0.0.1:5000/api/v1/lineage".to_owned(),
                namespace: "analytics".to_owned(),
                timeout: DEFAULT_LINEAGE_TIMEOUT,
            }
        );
        assert_eq!(parse("").expect("valid").lineage, None);
    }

    #[test]
    fn a_url_with_a_path_is_used_as_written_with_the_namespace_and_timeout_given() {
        assert_eq!(
            lineage(
                "[lineage]\nurl = \"https://lineage.internal/v1/events\"\nnamespace = \"prod\"\ntimeout = \"2s\"\n"
            ),
            LineageConfig {
                url: "https://lineage.internal/v1/events".to_owned(),
                namespace: "prod".to_owned(),
                timeout: Duration::from_secs(2),
            }
        );
    }

    #[test]
    fn every_bad_lineage_setting_is_reported() {
        let problems = parse(
            "[lineage]\nurl = \"file:///tmp/events\"\nnamespace = \"\"\ntimeout = \"soon\"\nretries = 3\n",
        )
        .expect_err("invalid");
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(
            messages[0].contains("is not an http or https URL"),
            "{messages:#?}"
        );
        assert!(messages[1].contains("lineage.namespace"), "{messages:#?}");
        assert!(messages[2].contains("lineage.timeout"), "{messages:#?}");
        assert!(messages[3].contains("retries"), "{messages:#?}");

        let problems = parse("[lineage]\ntimeout = \"0s\"\n").expect_err("invalid");
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
    }
}
