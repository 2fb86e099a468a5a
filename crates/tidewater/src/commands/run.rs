use std::path::Path;

use anyhow::bail;
use tidewater_control::{Concurrency, IntervalRequest, ManualRunRequest, Resume, local_time};

use crate::Outcome;
use crate::args::RunArgs;
use crate::output;

pub(crate) async fn run(project: &Path, args: RunArgs) -> anyhow::Result<Outcome> {
    let (control, loaded) =
        crate::project_context::open_with_workflow(project, &args.workflow).await?;
    let request = ManualRunRequest {
        interval: interval_request(args.date.as_deref(), args.interval.as_deref())?,
        params: param_overrides(&args.params)?,
        concurrency: Concurrency::from_flag(args.allow_concurrent),
    };
    let record = control.create_manual_run(&loaded, &request).await?;
    let workflow = &loaded.workflow;
    let timezone = workflow.timezone;
    let interval = record.interval;
    output::note(format!(
        "run {} of {} for {} ({} to {})",
        record.id,
        workflow.name,
        interval.ds(timezone),
        local_time::minutes(interval.start, timezone),
        local_time::minutes(interval.end, timezone),
    ));
    // With a server up, the server executes the run under its task queue, shared with
    // every other run (pools and rates hold across all of them); this command follows it.
    if let Some(service) = control.live_service().await? {
        return super::follow::follow(
            &control,
            workflow,
            record.id,
            &service,
            args.execution.parallelism,
        )
        .await;
    }
    super::foreground::execute(
        &control,
        workflow,
        record.id,
        Resume::Continue,
        args.execution.parallelism,
    )
    .await
}

/// `--date` or `--interval START/END`; neither is the latest complete interval.
pub(crate) fn interval_request(
    date: Option<&str>,
    interval: Option<&str>,
) -> anyhow::Result<IntervalRequest> {
    Ok(match (date, interval) {
        (_, Some(interval)) => {
            let Some((start, end)) = interval.split_once('/') else {
                bail!(
                    "`{interval}` is not an interval: expected START/END, e.g. 2026-01-01/2026-01-02"
                );
            };
            IntervalRequest::Between {
                start: start.to_owned(),
                end: end.to_owned(),
            }
        }
        (Some(date), None) => IntervalRequest::Date(date.to_owned()),
        (None, None) => IntervalRequest::Latest,
    })
}

/// `--param KEY=VALUE` overrides: values are JSON, else text.
pub(crate) fn param_overrides(
    texts: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut overrides = serde_json::Map::new();
    for param in texts {
        let Some((key, value)) = param.split_once('=') else {
            bail!("--param `{param}` is not KEY=VALUE");
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        overrides.insert(key.to_owned(), value);
    }
    Ok(overrides)
}
