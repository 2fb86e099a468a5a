//! What opening the store costs a command: every `tidewater` command is a new process that
//! opens `.tidewater/tidewater.db`, reads or writes a little, and closes it.
//!
//! Measures, on an existing store file (median of many, current-thread runtime as the binary
//! runs it): `SqliteStore::open`, then one read (`list_runs`, limit 1), then `close`; and the
//! floor: opening one plain SQLite connection with the same settings, the same read, closing.
//!
//! Prints times and ratios; it never asserts them (STYLE.md). Run it in release:
//! `cargo run --release -p tidewater-sqlite --example open_latency [-- ROUNDS]`.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use tidewater_sqlite::SqliteStore;
use tidewater_store::{RunFilter, RunStore, Store};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir_in("/var/tmp").expect("temp dir");
    let path = dir.path().join("tidewater.db");
    SqliteStore::open(&path)
        .await
        .expect("create")
        .close()
        .await;
    let (mut opens, mut reads, mut closes, mut floors) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let started = Instant::now();
        let store = SqliteStore::open(&path).await.expect("open");
        let opened = Instant::now();
        let filter = RunFilter {
            limit: Some(1),
            ..RunFilter::default()
        };
        store.list_runs(&filter).await.expect("read");
        let read = Instant::now();
        store.close().await;
        let closed = Instant::now();
        opens.push(opened - started);
        reads.push(read - opened);
        closes.push(closed - read);

        let started = Instant::now();
        let connection = Connection::open(&path).expect("connect");
        connection
            .pragma_update(None, "journal_mode", "wal")
            .expect("WAL");
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .expect("synchronous");
        let _: Vec<i64> = connection
            .prepare("SELECT id FROM runs ORDER BY id DESC LIMIT 1")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("read");
        connection
            .close()
            .map_err(|(_, error)| error)
            .expect("close");
        floors.push(started.elapsed());
    }
    let (open, read, close, floor) = (median(opens), median(reads), median(closes), median(floors));
    let total = open + read + close;
    println!(
        "store open {open:?}, one read {read:?}, close {close:?}: {total:?} (median of {rounds}); floor (one connection, same read, close) {floor:?}; ratio {:.2}",
        total.as_secs_f64() / floor.as_secs_f64()
    );
}
