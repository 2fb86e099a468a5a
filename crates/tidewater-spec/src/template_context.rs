use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::SecondsFormat;
use serde_json::{Map, Value};
use tidewater_core::{DataInterval, RunId, TaskName, WorkflowName};

use crate::template_environment::template_environment;
use crate::{ConnectionValueError, Connections};

/// What a task's templates may refer to when one attempt starts: the run's interval and id,
/// the workflow's params and the outputs of upstream tasks.
#[derive(Debug, Clone)]
pub struct TemplateContext {
    pub workflow: WorkflowName,
    pub task: TaskName,
    pub run_id: RunId,
    pub interval: DataInterval,
    pub timezone: chrono_tz::Tz,
    pub params: Map<String, Value>,
    /// The JSON object each finished upstream task wrote, by task name.
    pub task_outputs: BTreeMap<String, Value>,
    /// The project's connections, read by templates as `conn.NAME.FIELD`.
    pub connections: Arc<Connections>,
}

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("invalid template: {0}")]
    Syntax(minijinja::Error),
    #[error("cannot render template: {0}")]
    Render(minijinja::Error),
    #[error("cannot render template: {0}")]
    Connection(ConnectionValueError),
}

impl TemplateContext {
    /// Renders `template` with the shared environment. An undefined variable is an error,
    /// never an empty string.
    pub fn render(&self, template: &str) -> Result<String, TemplateError> {
        self.render_with(template, &Map::new())
    }

    /// Renders `template` with `extra` variables besides the run's (a notification's
    /// `event`, `failed_tasks`, `run_url`); an extra variable hides a run's of the same name.
    pub fn render_with(
        &self,
        template: &str,
        extra: &Map<String, Value>,
    ) -> Result<String, TemplateError> {
        // Every tag, expression and comment starts with `{` (the environment sets no line
        // statements), so text without one renders as itself: skip compiling it and building
        // the variables, which is most of an attempt start's template work.
        if !template.contains('{') {
            return Ok(template.to_owned());
        }
        let compiled = template_environment()
            .template_from_str(template)
            .map_err(TemplateError::Syntax)?;
        // A connection value that could not be read fails the templates that use it, with
        // the reason, rather than as an undefined variable.
        if self.connections.has_errors() && template.contains("conn") {
            for variable in compiled.undeclared_variables(true) {
                let mut parts = variable.split('.');
                if parts.next() != Some("conn") {
                    continue;
                }
                let path: Vec<&str> = parts.collect();
                if let Some(error) = self.connections.error_of(&path) {
                    return Err(TemplateError::Connection(error.clone()));
                }
            }
        }
        let mut variables = self.variables();
        variables.extend(
            extra
                .iter()
                .map(|(name, value)| (name.clone(), value.clone())),
        );
        compiled
            .render(minijinja::value::Serde(variables))
            .map_err(TemplateError::Render)
    }

    /// The same values for a shell task's environment, as `TIDEWATER_*` variables. Params
    /// that are strings are passed as they are; other JSON values as JSON.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let dates = self.dates();
        let mut vars = vec![
            ("TIDEWATER_DS".to_owned(), dates.ds),
            ("TIDEWATER_DS_NODASH".to_owned(), dates.ds_nodash),
            ("TIDEWATER_LOGICAL_DATE".to_owned(), dates.start.clone()),
            ("TIDEWATER_DATA_INTERVAL_START".to_owned(), dates.start),
            ("TIDEWATER_DATA_INTERVAL_END".to_owned(), dates.end),
            ("TIDEWATER_RUN_ID".to_owned(), self.run_id.to_string()),
            ("TIDEWATER_WORKFLOW".to_owned(), self.workflow.to_string()),
            ("TIDEWATER_TASK".to_owned(), self.task.to_string()),
        ];
        vars.extend(self.params.iter().map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (format!("TIDEWATER_PARAM_{}", env_name(name)), text)
        }));
        vars
    }

    /// Every template variable as one JSON object.
    pub(crate) fn variables(&self) -> Map<String, Value> {
        let dates = self.dates();
        let tasks: Map<String, Value> = self
            .task_outputs
            .iter()
            .map(|(name, output)| {
                let entry = Map::from_iter([("output".to_owned(), output.clone())]);
                (name.clone(), Value::Object(entry))
            })
            .collect();
        Map::from_iter([
            ("ds".to_owned(), Value::String(dates.ds)),
            ("ds_nodash".to_owned(), Value::String(dates.ds_nodash)),
            (
                "logical_date".to_owned(),
                Value::String(dates.start.clone()),
            ),
            ("data_interval_start".to_owned(), Value::String(dates.start)),
            ("data_interval_end".to_owned(), Value::String(dates.end)),
            ("run_id".to_owned(), Value::from(self.run_id.0)),
            ("params".to_owned(), Value::Object(self.params.clone())),
            (
                "workflow".to_owned(),
                Value::String(self.workflow.to_string()),
            ),
            ("task".to_owned(), Value::String(self.task.to_string())),
            ("tasks".to_owned(), Value::Object(tasks)),
            ("conn".to_owned(), self.connections.template_value()),
        ])
    }

    fn dates(&self) -> IntervalTexts {
        let ds = self.interval.ds(self.timezone);
        let rfc3339 = |time: tidewater_core::Timestamp| {
            time.with_timezone(&self.timezone)
                .to_rfc3339_opts(SecondsFormat::AutoSi, false)
        };
        IntervalTexts {
            ds: ds.format("%Y-%m-%d").to_string(),
            ds_nodash: ds.format("%Y%m%d").to_string(),
            start: rfc3339(self.interval.start),
            end: rfc3339(self.interval.end),
        }
    }
}

struct IntervalTexts {
    ds: String,
    ds_nodash: String,
    start: String,
    end: String,
}

/// `region` -> `REGION`, `max-rows` -> `MAX_ROWS`: what a shell can use as a name.
fn env_name(param: &str) -> String {
    param
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `value` with each of its strings rendered by `render` (a JSON body or `params` whose
/// strings are templates); keys, numbers and the rest stay as written.
pub fn render_json_strings<E>(
    value: &Value,
    render: &impl Fn(&str) -> Result<String, E>,
) -> Result<Value, E> {
    Ok(match value {
        Value::String(template) => Value::String(render(template)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_json_strings(item, render))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), render_json_strings(item, render)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn seoul_context() -> TemplateContext {
        let start = Utc
            .with_ymd_and_hms(2025, 12, 31, 15, 0, 0)
            .single()
            .expect("valid time");
        let end = Utc
            .with_ymd_and_hms(2026, 1, 1, 15, 0, 0)
            .single()
            .expect("valid time");
        TemplateContext {
            workflow: WorkflowName::new("daily_sales"),
            task: TaskName::new("extract"),
            run_id: RunId(42),
            interval: DataInterval::new(start, end).expect("start before end"),
            timezone: chrono_tz::Asia::Seoul,
            params: Map::from_iter([
                ("region".to_owned(), Value::String("kr".to_owned())),
                ("max-rows".to_owned(), Value::from(1000)),
            ]),
            task_outputs: BTreeMap::from([(
                "count_rows".to_owned(),
                serde_json::json!({ "rows": 7 }),
            )]),
            connections: Arc::default(),
        }
    }

    #[test]
    fn ds_is_the_local_date_of_the_interval_start() {
        let context = seoul_context();
        assert_eq!(context.render("{{ ds }}").ok(), Some("2026-01-01".into()));
        assert_eq!(
            context.render("{{ ds_nodash }}").ok(),
            Some("20260101".into())
        );
    }

    #[test]
    fn interval_bounds_are_rfc3339_in_the_workflow_time_zone() {
        let rendered = seoul_context()
            .render("{{ logical_date }} {{ data_interval_start }} {{ data_interval_end }}")
            .expect("renders");
        assert_eq!(
            rendered,
            "2026-01-01T00:00:00+09:00 2026-01-01T00:00:00+09:00 2026-01-02T00:00:00+09:00"
        );
    }

    #[test]
    fn params_outputs_and_date_filters_render() {
        let rendered = seoul_context()
            .render(
                "{{ workflow }}/{{ task }}/{{ run_id }} {{ params.region }} \
                 {{ tasks.count_rows.output.rows }} {{ ds | add_days(-1) }} \
                 {{ data_interval_start | strftime('%Y/%m') }}",
            )
            .expect("renders");
        assert_eq!(rendered, "daily_sales/extract/42 kr 7 2025-12-31 2026/01");
    }

    #[test]
    fn an_undefined_variable_is_an_error_not_an_empty_string() {
        let context = seoul_context();
        assert!(matches!(
            context.render("run {{ dss }}"),
            Err(TemplateError::Render(_))
        ));
        assert!(matches!(
            context.render("{{ params.nope }}"),
            Err(TemplateError::Render(_))
        ));
    }

    #[test]
    fn text_without_braces_renders_as_minijinja_would_render_it() {
        // Guards the shortcut in `render`: it must agree with the environment exactly.
        let context = seoul_context();
        for text in [
            "true",
            "",
            "echo 100% done }} %} #} # not a comment\n",
            "# a shell comment, not a line statement\n## nor a line comment\n",
            "line one\nline two\n\n",
            "  indented\r\n\ttabbed  ",
        ] {
            let rendered = template_environment()
                .template_from_str(text)
                .and_then(|compiled| compiled.render(minijinja::value::Serde(context.variables())))
                .expect("renders");
            assert_eq!(context.render(text).ok(), Some(rendered), "{text:?}");
        }
    }

    #[test]
    fn a_syntax_error_is_reported_as_such() {
        assert!(matches!(
            seoul_context().render("{{ ds "),
            Err(TemplateError::Syntax(_))
        ));
    }

    #[test]
    fn env_vars_carry_dates_ids_and_params() {
        let vars = seoul_context().env_vars();
        let get = |name: &str| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("TIDEWATER_DS"), Some("2026-01-01"));
        assert_eq!(get("TIDEWATER_DS_NODASH"), Some("20260101"));
        assert_eq!(
            get("TIDEWATER_DATA_INTERVAL_END"),
            Some("2026-01-02T00:00:00+09:00")
        );
        assert_eq!(get("TIDEWATER_RUN_ID"), Some("42"));
        assert_eq!(get("TIDEWATER_WORKFLOW"), Some("daily_sales"));
        assert_eq!(get("TIDEWATER_TASK"), Some("extract"));
        assert_eq!(get("TIDEWATER_PARAM_REGION"), Some("kr"));
        assert_eq!(get("TIDEWATER_PARAM_MAX_ROWS"), Some("1000"));
    }
}
