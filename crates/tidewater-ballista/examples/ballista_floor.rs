//! The floor of `benches/ballista.py`: a query through Ballista's own client, with each table
//! registered as a plain Parquet listing of its folder, as a Ballista user without Tidewater
//! would. Prints one line per repetition: `seconds rows`.
//!
//! `ballista_floor URL REPETITIONS SQL schema.table=FOLDER...`

use std::sync::Arc;
use std::time::Instant;

use ballista::prelude::SessionContextExt;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [url, repetitions, sql, tables @ ..] = arguments.as_slice() else {
        eprintln!("usage: ballista_floor URL REPETITIONS SQL schema.table=FOLDER...");
        std::process::exit(2);
    };
    let repetitions: usize = repetitions.parse().unwrap_or(1);
    for _ in 0..repetitions {
        let started = Instant::now();
        let context = SessionContext::remote(url).await?;
        for table in tables {
            let Some((name, folder)) = table.split_once('=') else {
                eprintln!("expected schema.table=FOLDER, found {table}");
                std::process::exit(2);
            };
            if let Some((schema, _)) = name.split_once('.')
                && let Some(catalog) = context.catalog("datafusion")
                && catalog.schema(schema).is_none()
            {
                catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
            }
            context
                .register_parquet(name, folder, ParquetReadOptions::default())
                .await?;
        }
        let batches = context.sql(sql).await?.collect().await?;
        let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
        println!("{:.4} {rows}", started.elapsed().as_secs_f64());
    }
    Ok(())
}
