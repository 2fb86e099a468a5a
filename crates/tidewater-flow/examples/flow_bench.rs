//! What a Delta write costs on top of the query that feeds it.
//!
//! Generates ~10 million rows of Parquet in a temporary folder, then measures (median of 5):
//!
//! - (a) `Warehouse::write` with `replace_partition` of `SELECT key, sum(value) … GROUP BY key`
//!   read with `read_parquet`, each into a new table;
//! - (b) the floor: the same query on a plain DataFusion `SessionContext` with `write_parquet`;
//! - (c) a second replace of the same partition, against (a);
//! - (d) the fixed cost of a 1-row write, against a plain 1-row `write_parquet`.
//!
//! Prints times and ratios; it never asserts them (STYLE.md). Run it in release:
//! `cargo run --release -p tidewater-flow --example flow_bench [-- ROWS]`.

use std::error::Error;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use tidewater_flow::{CommitInfo, SchemaPolicy, TableName, Warehouse, WriteMode, WriteSpec};

const RUNS: usize = 5;
const DEFAULT_ROWS: u64 = 10_000_000;
const DISTINCT_KEYS: u64 = 100_000;
const AGGREGATE: &str = "SELECT key, sum(value) AS total FROM {source} GROUP BY key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let rows = match std::env::args().nth(1) {
        Some(rows) => rows.parse()?,
        None => DEFAULT_ROWS,
    };
    let folder = tempfile::tempdir()?;
    let data = folder.path().join("data");
    let started = Instant::now();
    generate(&data, rows).await?;
    println!(
        "flow_bench: {rows} rows, {DISTINCT_KEYS} keys, generated in {:.1} s; {} build; median of {RUNS}",
        started.elapsed().as_secs_f64(),
        if cfg!(debug_assertions) {
            "DEBUG (unoptimized)"
        } else {
            "release"
        },
    );

    let warehouse = Warehouse::new("warehouse", folder.path())?;
    let warehouse_sql = AGGREGATE.replace("{source}", "read_parquet('data')");
    // Warm the page cache so the first timed run does not pay for cold reads alone.
    warehouse.query(&warehouse_sql).await?;

    let (warehouse, sql) = (&warehouse, warehouse_sql.as_str());
    let mut table_number = 0;
    let first_write = median(|| {
        table_number += 1;
        let target = replace_partition(&format!("bench.first_{table_number}"));
        async move { warehouse.write(sql, &target, &commit()).await.map(drop) }
    })
    .await?;

    let mut output_number = 0;
    let plain = median(|| {
        output_number += 1;
        let output = folder.path().join(format!("plain/{output_number}"));
        let data = data.clone();
        async move { plain_datafusion_aggregate(&data, &output).await }
    })
    .await?;

    let replaced = &replace_partition("bench.first_1");
    let second_replace =
        median(|| async move { warehouse.write(sql, replaced, &commit()).await.map(drop) }).await?;

    let tiny = &replace_partition("bench.tiny");
    warehouse.write("SELECT 1 AS id", tiny, &commit()).await?;
    let tiny_write = median(|| async move {
        warehouse
            .write("SELECT 1 AS id", tiny, &commit())
            .await
            .map(drop)
    })
    .await?;
    let mut tiny_number = 0;
    let tiny_plain = median(|| {
        tiny_number += 1;
        let output = folder.path().join(format!("tiny/{tiny_number}"));
        async move { plain_datafusion_tiny(&output).await }
    })
    .await?;

    println!();
    println!(
        "(a) Warehouse::write replace_partition, first write  {:>9.1} ms",
        ms(first_write)
    );
    println!(
        "(b) plain DataFusion query + write_parquet           {:>9.1} ms",
        ms(plain)
    );
    println!("    (a)/(b) = {:.2}", ratio(first_write, plain));
    println!(
        "(c) second replace of the same partition             {:>9.1} ms",
        ms(second_replace)
    );
    println!("    (c)/(a) = {:.2}", ratio(second_replace, first_write));
    println!(
        "(d) 1-row replace_partition write                    {:>9.1} ms",
        ms(tiny_write)
    );
    println!(
        "    floor: plain DataFusion 1-row write_parquet      {:>9.1} ms",
        ms(tiny_plain)
    );
    println!("    (d)/floor = {:.2}", ratio(tiny_write, tiny_plain));
    Ok(())
}

/// `rows` rows of (key, value) in several Parquet files, written by DataFusion itself.
async fn generate(data: &Path, rows: u64) -> Result<(), Box<dyn Error>> {
    let context = SessionContext::new();
    let sql = format!(
        "SELECT value % {DISTINCT_KEYS} AS key, CAST(value % 1000 AS DOUBLE) AS value FROM range({rows})"
    );
    context
        .sql(&sql)
        .await?
        .write_parquet(path_text(data)?, DataFrameWriteOptions::new(), None)
        .await?;
    Ok(())
}

async fn plain_datafusion_aggregate(data: &Path, output: &Path) -> Result<(), Box<dyn Error>> {
    let context = SessionContext::new();
    context
        .register_parquet("data", path_text(data)?, ParquetReadOptions::default())
        .await?;
    context
        .sql(&AGGREGATE.replace("{source}", "data"))
        .await?
        .write_parquet(path_text(output)?, DataFrameWriteOptions::new(), None)
        .await?;
    Ok(())
}

async fn plain_datafusion_tiny(output: &Path) -> Result<(), Box<dyn Error>> {
    SessionContext::new()
        .sql("SELECT 1 AS id")
        .await?
        .write_parquet(path_text(output)?, DataFrameWriteOptions::new(), None)
        .await?;
    Ok(())
}

/// Runs `run` [`RUNS`] times and returns the median duration.
async fn median<F, Fut, E>(mut run: F) -> Result<Duration, Box<dyn Error>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Box<dyn Error>>,
{
    let mut durations = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        run().await.map_err(Into::into)?;
        durations.push(started.elapsed());
    }
    durations.sort();
    Ok(durations[RUNS / 2])
}

fn replace_partition(table: &str) -> WriteSpec {
    WriteSpec {
        table: table
            .parse::<TableName>()
            .expect("benchmark table names are valid"),
        partition: vec![("dt".to_owned(), "2026-01-01".to_owned())],
        mode: WriteMode::ReplacePartition,
        keys: Vec::new(),
        schema_policy: SchemaPolicy::Strict,
    }
}

fn commit() -> CommitInfo {
    CommitInfo {
        workflow: "flow_bench".to_owned(),
        run_id: 1,
        task: "aggregate".to_owned(),
        attempt: 1,
    }
}

fn path_text(path: &Path) -> Result<&str, Box<dyn Error>> {
    path.to_str()
        .ok_or_else(|| "temporary path is not UTF-8".into())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    numerator.as_secs_f64() / denominator.as_secs_f64()
}
