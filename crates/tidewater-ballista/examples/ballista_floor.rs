//! The floor of `benches/ballista.py`: a query through Ballista's own client, with each table
//! registered as a plain Parquet listing of its folder, as a Ballista user without Tidewater
//! would. Prints one line per repetition: `seconds rows`.
//!
//! `ballista_floor URL REPETITIONS SQL schema.table=FOLDER=COLUMN:TYPE,COLUMN:TYPE...`
//!
//! Each table's columns are given (Arrow type names, e.g. `Int64`, `Utf8`, `Float64`), as
//! Tidewater gives them from the Delta log: inferring them from the files' footers would be
//! work the floor does and Tidewater does not.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use ballista::prelude::SessionContextExt;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [url, repetitions, sql, tables @ ..] = arguments.as_slice() else {
        eprintln!("usage: ballista_floor URL REPETITIONS SQL schema.table=FOLDER=COLUMN:TYPE,...");
        std::process::exit(2);
    };
    let repetitions: usize = repetitions.parse().unwrap_or(1);
    for _ in 0..repetitions {
        let started = Instant::now();
        let context = SessionContext::remote(url).await?;
        for table in tables {
            let Some((name, folder, table_schema)) = table
                .split_once('=')
                .and_then(|(name, rest)| Some((name, rest.rsplit_once('=')?)))
                .and_then(|(name, (folder, columns))| Some((name, folder, schema(columns)?)))
            else {
                eprintln!("expected schema.table=FOLDER=COLUMN:TYPE,..., found {table}");
                std::process::exit(2);
            };
            if let Some((schema, _)) = name.split_once('.')
                && let Some(catalog) = context.catalog("datafusion")
                && catalog.schema(schema).is_none()
            {
                catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
            }
            context
                .register_parquet(
                    name,
                    folder,
                    ParquetReadOptions::default().schema(&table_schema),
                )
                .await?;
        }
        let batches = context.sql(sql).await?.collect().await?;
        let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
        println!("{:.4} {rows}", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `COLUMN:TYPE,...`, every column nullable (as Tidewater's tables are).
fn schema(columns: &str) -> Option<Schema> {
    let fields = columns
        .split(',')
        .map(|column| {
            let (name, data_type) = column.split_once(':')?;
            Some(Field::new(name, DataType::from_str(data_type).ok()?, true))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Schema::new(fields))
}
