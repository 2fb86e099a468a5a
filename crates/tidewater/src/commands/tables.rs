use std::path::Path;

use anyhow::bail;
use tidewater_control::json::{
    MissingJson, TableDescription, TableJson, ViewJson, table_names_json,
};
use tidewater_control::{
    MissingIntervals, MissingRequest, ViewCoverage, describe_table, list_tables, time_arg,
};
use tidewater_core::{ServingView, TableName};

use crate::Outcome;
use crate::args::TablesArgs;
use crate::output;
use crate::project_context::open_project;

pub(super) async fn tables(project: &Path, args: TablesArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let Some(name) = &args.name else {
        let list = list_tables(&project).await?;
        if args.json {
            output::json(&table_names_json(&list))?;
        } else if list.tables.is_empty() && list.views.is_empty() {
            output::note(format!("no tables yet in {}", list.location));
        } else {
            for table in list.tables {
                output::data(table);
            }
            for view in list.views {
                output::data(format!("{view} (view)"));
            }
        }
        return Ok(Outcome::Success);
    };
    let table: TableName = name.parse()?;
    if table.schema() == ServingView::SCHEMA && !args.missing {
        return view(&project, &table, &args).await;
    }
    if args.missing {
        return missing(&project, table, &args).await;
    }
    let description = describe_table(&project, &table).await?;
    if args.json {
        output::json(&TableJson::new(&description))?;
    } else {
        output::data(describe(&description));
    }
    Ok(Outcome::Success)
}

fn describe(description: &TableDescription) -> String {
    let mut text = format!(
        "{} (version {})\n\ncolumns:\n",
        description.table, description.version
    );
    let columns: Vec<Vec<String>> = description
        .columns
        .iter()
        .map(|column| {
            vec![
                format!("  {}", column.name),
                column.data_type.clone(),
                if description.partition_columns.contains(&column.name) {
                    "partition".to_owned()
                } else if column.nullable {
                    "nullable".to_owned()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    text.push_str(&output::table(&["  NAME", "TYPE", ""], &columns));
    if !description.partitions.is_empty() {
        text.push_str("\n\npartitions:\n");
        let rows: Vec<Vec<String>> = description
            .partitions
            .iter()
            .map(|partition| {
                let values: Vec<String> = partition
                    .values
                    .iter()
                    .map(|(column, value)| {
                        format!("{column}={}", value.as_deref().unwrap_or("null"))
                    })
                    .collect();
                let writer = match &partition.last_write {
                    Some(write) => match &write.writer {
                        Some(commit) => format!(
                            "{} run {} task {} attempt {} (version {})",
                            commit.workflow,
                            commit.run_id,
                            commit.task,
                            commit.attempt,
                            write.version
                        ),
                        None => format!(
                            "{} (version {}, not by tidewater)",
                            write.operation.as_deref().unwrap_or("a write"),
                            write.version
                        ),
                    },
                    None => "-".to_owned(),
                };
                let rows = partition
                    .rows
                    .map(|rows| rows.to_string())
                    .unwrap_or_else(|| "?".to_owned());
                vec![
                    format!("  {}", values.join(",")),
                    rows,
                    partition.files.to_string(),
                    writer,
                ]
            })
            .collect();
        text.push_str(&output::table(
            &["  PARTITION", "ROWS", "FILES", "LAST WRITTEN BY"],
            &rows,
        ));
    }
    text
}

/// Intervals of a workflow in a date range whose partition of the table has no rows.
async fn missing(
    project: &tidewater_spec::Project,
    table: TableName,
    args: &TablesArgs,
) -> anyhow::Result<Outcome> {
    let (Some(workflow), Some(from), Some(to)) = (&args.workflow, &args.from, &args.to) else {
        bail!("--missing needs --workflow W --from YYYY-MM-DD --to YYYY-MM-DD");
    };
    let request = MissingRequest {
        table,
        workflow: workflow.clone(),
        from: time_arg::parse_date(from)?,
        to: time_arg::parse_date(to)?,
    };
    let missing = MissingIntervals::find(project, &request).await?;
    let rows = MissingJson::list(&missing);
    if args.json {
        output::json(&rows)?;
    } else if rows.is_empty() {
        output::note(format!(
            "every interval from {} to {} has its {} partition in {}",
            request.from, request.to, missing.column, request.table
        ));
    } else {
        let table_rows: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    row.ds.clone(),
                    row.data_interval_start.clone(),
                    row.data_interval_end.clone(),
                ]
            })
            .collect();
        output::data(output::table(
            &["MISSING DS", "DATA INTERVAL START", "DATA INTERVAL END"],
            &table_rows,
        ));
    }
    Ok(Outcome::Success)
}

/// A serving view per interval: batch, stream only, or missing.
async fn view(
    project: &tidewater_spec::Project,
    name: &TableName,
    args: &TablesArgs,
) -> anyhow::Result<Outcome> {
    let range = match (&args.from, &args.to) {
        (None, None) => None,
        (Some(from), Some(to)) => Some((time_arg::parse_date(from)?, time_arg::parse_date(to)?)),
        _ => bail!("--from and --to go together: the first and last interval to show"),
    };
    let coverage = ViewCoverage::read(project, name, range).await?;
    let json = ViewJson::new(&coverage);
    if args.json {
        output::json(&json)?;
        return Ok(Outcome::Success);
    }
    let retention = match coverage.view.retention.map(|retention| retention.as_secs()) {
        Some(seconds) if seconds % 86_400 == 0 => {
            format!(", stream pruned after {}d", seconds / 86_400)
        }
        Some(seconds) if seconds % 3_600 == 0 => {
            format!(", stream pruned after {}h", seconds / 3_600)
        }
        Some(seconds) => format!(", stream pruned after {seconds}s"),
        None => String::new(),
    };
    let mut text = format!(
        "{} (view: {} where it has the partition, else {}; by {}{retention})\n\n",
        json.view, json.batch, json.stream, json.by
    );
    if json.intervals.is_empty() {
        text.push_str("no intervals yet: neither table has rows");
        output::data(text);
        return Ok(Outcome::Success);
    }
    let rows: Vec<Vec<String>> = json
        .intervals
        .iter()
        .map(|interval| {
            let rows = interval
                .rows
                .map_or_else(|| "?".to_owned(), |rows| rows.to_string());
            let replaced = interval
                .replaced_stream_rows
                .map_or_else(String::new, |rows| format!("replaces {rows} stream rows"));
            vec![
                interval.value.clone().unwrap_or_else(|| "null".to_owned()),
                interval.source.clone(),
                rows,
                replaced,
            ]
        })
        .collect();
    text.push_str(&output::table(
        &[&json.by.to_uppercase(), "SOURCE", "ROWS", ""],
        &rows,
    ));
    output::data(text);
    Ok(Outcome::Success)
}
