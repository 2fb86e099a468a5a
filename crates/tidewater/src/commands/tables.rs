use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use tidewater_core::{DataInterval, SchedulePlan, TaskAction};
use tidewater_flow::{TableDescription, TableName};

use crate::Outcome;
use crate::args::TablesArgs;
use crate::output;
use crate::project_context::{open_project, open_warehouse};
use tidewater_control::time_arg;

#[derive(Debug, Serialize)]
struct MissingJson {
    ds: String,
    data_interval_start: String,
    data_interval_end: String,
}

pub(super) async fn tables(project: &Path, args: TablesArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let warehouse = open_warehouse(&project)?;
    let Some(name) = &args.name else {
        let tables = warehouse.tables().await?;
        if args.json {
            output::json(&tables.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        } else if tables.is_empty() {
            output::note(format!("no tables yet in {}", warehouse.location()));
        } else {
            for table in tables {
                output::data(table);
            }
        }
        return Ok(Outcome::Success);
    };
    let table: TableName = name.parse()?;
    if args.missing {
        return missing(&project, &warehouse, &table, &args).await;
    }
    let description = warehouse.describe(&table).await?;
    if args.json {
        output::json(&description)?;
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
    warehouse: &tidewater_flow::Warehouse,
    table: &TableName,
    args: &TablesArgs,
) -> anyhow::Result<Outcome> {
    let (Some(workflow), Some(from), Some(to)) = (&args.workflow, &args.from, &args.to) else {
        bail!("--missing needs --workflow W --from YYYY-MM-DD --to YYYY-MM-DD");
    };
    let loaded = crate::project_context::load_workflow(project, workflow)?;
    let workflow = &loaded.workflow;
    // The partition column is the one the workflow's tasks write into this table.
    let column = workflow
        .tasks()
        .iter()
        .find_map(|task| match &task.action {
            TaskAction::Sql(sql) => sql
                .into
                .as_ref()
                .filter(|into| into.table == *table)
                .and_then(|into| into.partition.first().map(|(column, _)| column.clone())),
            _ => None,
        })
        .with_context(|| format!("no task of {} writes a partition of {table}", workflow.name))?;
    let from = time_arg::parse_date(from)?;
    let to = time_arg::parse_date(to)?;
    let intervals: Vec<DataInterval> = match SchedulePlan::for_workflow(workflow) {
        Some(plan) => {
            let range = tidewater_core::BackfillRange::new(
                from,
                to,
                tidewater_core::BackfillOrder::OldestFirst,
            )?;
            plan.backfill(&range, chrono::Utc::now()).intervals
        }
        None => {
            if from > to {
                bail!("--from {from} is after --to {to}");
            }
            from.iter_days()
                .take_while(|day| *day <= to)
                .map(|day| DataInterval::day(day, workflow.timezone))
                .collect()
        }
    };
    let values: Vec<String> = intervals
        .iter()
        .map(|interval| interval.ds(workflow.timezone).to_string())
        .collect();
    let missing = warehouse
        .missing_partitions(table, &column, &values)
        .await?;
    let rows: Vec<MissingJson> = intervals
        .iter()
        .filter(|interval| missing.contains(&interval.ds(workflow.timezone).to_string()))
        .map(|interval| MissingJson {
            ds: interval.ds(workflow.timezone).to_string(),
            data_interval_start: interval
                .start
                .with_timezone(&workflow.timezone)
                .to_rfc3339(),
            data_interval_end: interval.end.with_timezone(&workflow.timezone).to_rfc3339(),
        })
        .collect();
    if args.json {
        output::json(&rows)?;
    } else if rows.is_empty() {
        output::note(format!(
            "every interval from {from} to {to} has its {column} partition in {table}"
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
