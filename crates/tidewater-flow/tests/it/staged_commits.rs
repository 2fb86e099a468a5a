//! Output staged by an engine outside this process (as Ballista's executors stage it) and
//! committed with `Warehouse::commit_staged`; here, what an attempt killed between moving its
//! files into the table and committing them leaves, and who deletes it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;
use serde_json::json;
use tidewater_flow::{CommitInfo, FlowError, STAGING_FOLDER, WriteMode, WriteSpec, staged_output};
use url::Url;

use crate::python_reader::{assert_python_reader_agrees, python_deltalake_available};
use crate::support::{Project, commit, lines, spec, table};

const FIRST_ROWS: &str = "SELECT * FROM (VALUES (1, 'apple'), (2, 'pear')) AS t(id, item)";
const RETRIED_ROWS: &str =
    "SELECT * FROM (VALUES (3, 'plum'), (4, 'fig'), (5, 'kiwi')) AS t(id, item)";
const READ: &str = "SELECT id, item FROM mart.sales";
const HOUR: Duration = Duration::from_secs(3600);

fn day_one() -> WriteSpec {
    spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-01")],
    )
}

/// Stages `sql`'s rows for `commit`'s attempt as a remote engine does: the staging folder
/// from `start_staging`, Parquet files written into it by DataFusion.
async fn stage(project: &Project, target: &WriteSpec, commit: &CommitInfo, sql: &str) -> Url {
    let staging = project
        .warehouse
        .start_staging(&target.table, commit)
        .await
        .expect("staging starts");
    let dataframe = SessionContext::new().sql(sql).await.expect("query plans");
    staged_output(dataframe)
        .expect("output cast")
        .write_parquet(staging.as_str(), DataFrameWriteOptions::new(), None)
        .await
        .expect("output staged");
    staging
}

async fn stage_and_commit(project: &Project, target: &WriteSpec, commit: &CommitInfo, sql: &str) {
    let staging = stage(project, target, commit, sql).await;
    project
        .warehouse
        .commit_staged(&staging, target, commit)
        .await
        .expect("staged output commits");
}

/// Run 1 committed day one's rows; run 2's first attempt moved its files into the table and
/// was killed before its commit. Returns the files it left, relative to the table folder.
async fn table_with_a_killed_attempt(project: &Project) -> BTreeSet<String> {
    stage_and_commit(project, &day_one(), &commit(1, "load", 1), FIRST_ROWS).await;
    let killed = commit(2, "load", 1);
    let staging = stage(project, &day_one(), &killed, RETRIED_ROWS).await;
    let moved = project
        .warehouse
        .stage_without_commit(&staging, &day_one(), &killed)
        .await
        .expect("files move");
    assert!(moved > 0, "nothing was moved into the table");
    let left = unreferenced(&sales_folder(project));
    assert_eq!(left.len(), moved, "{left:?}");
    assert!(
        left.iter()
            .all(|path| path.starts_with("dt=2026-01-01/staged-r2-a1-")),
        "{left:?}"
    );
    left
}

fn sales_folder(project: &Project) -> PathBuf {
    project.root().join("warehouse/mart/sales")
}

fn attempt_staging(project: &Project, folder: &str) -> PathBuf {
    sales_folder(project).join(STAGING_FOLDER).join(folder)
}

/// The table's data files, relative to its folder (the log and staging left out).
fn data_files(table_folder: &Path) -> BTreeSet<String> {
    walk(table_folder)
        .into_iter()
        .map(|path| {
            path.strip_prefix(table_folder)
                .expect("inside the table")
                .display()
                .to_string()
        })
        .filter(|path| !path.starts_with("_delta_log") && !path.starts_with(STAGING_FOLDER))
        .collect()
}

/// Every path an `add` action of the log names: the current files and the tombstoned ones
/// (no test here checkpoints or vacuums before reading it).
fn logged_adds(table_folder: &Path) -> BTreeSet<String> {
    let mut adds = BTreeSet::new();
    for path in walk(&table_folder.join("_delta_log")) {
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("log entry");
        for line in text.lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("JSON action");
            if let Some(added) = action["add"]["path"].as_str() {
                adds.insert(added.to_owned());
            }
        }
    }
    adds
}

/// Data files no version of the log ever added.
fn unreferenced(table_folder: &Path) -> BTreeSet<String> {
    let adds = logged_adds(table_folder);
    data_files(table_folder)
        .into_iter()
        .filter(|path| !adds.contains(path))
        .collect()
}

fn walk(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Makes every file under `folder` look `age` old: the clock vacuum compares with is the
/// files' modification time, so the test moves them rather than waiting.
fn backdate(folder: &Path, age: Duration) {
    let then = SystemTime::now() - age;
    for path in walk(folder) {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(then))
            .expect("modification time set");
    }
}

fn sorted(paths: &[String]) -> BTreeSet<String> {
    paths.iter().cloned().collect()
}

#[tokio::test]
async fn a_retry_deletes_the_files_its_killed_attempt_moved_into_the_table_and_commits() {
    let project = Project::new();
    let folder = sales_folder(&project);
    let left = table_with_a_killed_attempt(&project).await;
    // The killed attempt changed nothing readers see.
    assert_eq!(project.rows(READ).await, lines(&["1,apple", "2,pear"]));
    assert!(attempt_staging(&project, "2-load-1").exists());

    let retry = commit(2, "load", 2);
    let staging = stage(&project, &day_one(), &retry, RETRIED_ROWS).await;
    assert!(
        unreferenced(&folder).is_empty(),
        "starting the retry's staging deleted {left:?}: {:?}",
        unreferenced(&folder)
    );
    assert!(!attempt_staging(&project, "2-load-1").exists());
    project
        .warehouse
        .commit_staged(&staging, &day_one(), &retry)
        .await
        .expect("the retry commits");

    assert_eq!(
        project.rows(READ).await,
        lines(&["3,plum", "4,fig", "5,kiwi"])
    );
    // Exactly the files the log references: run 2's current ones, run 1's tombstoned one.
    assert_eq!(data_files(&folder), logged_adds(&folder));
    assert!(
        std::fs::read_dir(folder.join(STAGING_FOLDER))
            .expect("staging folder")
            .next()
            .is_none(),
        "no staging is left after the commit"
    );
    if python_deltalake_available() {
        assert_python_reader_agrees(
            &project,
            &json!({"tables": [{
                "path": folder,
                "columns": {"id": "long", "item": "string", "dt": "string"},
                "partition_columns": ["dt"],
                "partitions": [{"values": {"dt": "2026-01-01"}, "rows": 3}],
                "rows": 3,
            }]}),
        );
    }
}

#[tokio::test]
async fn vacuum_deletes_what_an_attempt_killed_before_its_commit_left_once_older_than_the_retention()
 {
    let project = Project::new();
    let folder = sales_folder(&project);
    let left = table_with_a_killed_attempt(&project).await;
    backdate(&folder.join(STAGING_FOLDER), 2 * HOUR);
    let sales = table("mart.sales");

    let dry_run = project.warehouse.vacuum(&sales, HOUR, true).await.unwrap();
    assert!(dry_run.is_dry_run);
    assert_eq!(sorted(&dry_run.staged_orphans), left);
    assert!(
        left.iter().all(|path| dry_run.files.contains(path)),
        "{dry_run:?}"
    );
    assert_eq!(unreferenced(&folder), left, "a dry run deletes nothing");
    assert!(attempt_staging(&project, "2-load-1").exists());

    let vacuum = project.warehouse.vacuum(&sales, HOUR, false).await.unwrap();
    assert_eq!(sorted(&vacuum.staged_orphans), left);
    assert!(
        unreferenced(&folder).is_empty(),
        "{:?}",
        unreferenced(&folder)
    );
    assert!(!attempt_staging(&project, "2-load-1").exists());
    assert_eq!(data_files(&folder), logged_adds(&folder));
    assert_eq!(project.rows(READ).await, lines(&["1,apple", "2,pear"]));
}

#[tokio::test]
async fn vacuum_leaves_a_staging_folder_younger_than_the_retention_alone() {
    let project = Project::new();
    let folder = sales_folder(&project);
    // As far as vacuum can tell, this attempt is still between its moves and its commit.
    let left = table_with_a_killed_attempt(&project).await;

    let vacuum = project
        .warehouse
        .vacuum(&table("mart.sales"), HOUR, false)
        .await
        .unwrap();
    assert!(vacuum.staged_orphans.is_empty(), "{vacuum:?}");
    assert!(vacuum.files.is_empty(), "{vacuum:?}");
    assert_eq!(unreferenced(&folder), left);
    assert!(attempt_staging(&project, "2-load-1").exists());
}

// Regression guard: a manifest lists files that were committed; an overwrite since then
// removed them, and time travel to the older version needs them until the table's
// `deletedFileRetentionDuration`. Resolving the manifest must not take them.
#[tokio::test]
async fn resolving_a_manifest_keeps_a_committed_file_a_later_overwrite_tombstoned() {
    let project = Project::new();
    let totals = spec("mart.sales", WriteMode::Overwrite, &[]);
    stage_and_commit(&project, &totals, &commit(1, "load", 1), FIRST_ROWS).await;
    let folder = sales_folder(&project);
    let committed = logged_adds(&folder);
    assert!(!committed.is_empty());
    // A manifest left behind after the commit (as by a process killed right after it).
    let leave_manifest = || {
        let staging = attempt_staging(&project, "1-load-1");
        std::fs::create_dir_all(&staging).unwrap();
        let manifest = json!({"table_paths": committed.iter().collect::<Vec<_>>()});
        std::fs::write(staging.join("moves.json"), manifest.to_string()).unwrap();
    };
    leave_manifest();
    project
        .write(
            "SELECT 9 AS id, 'quince' AS item",
            &totals,
            &commit(2, "load", 1),
        )
        .await;

    // Resolved by the next attempt of run 1's task…
    project
        .warehouse
        .start_staging(&totals.table, &commit(1, "load", 2))
        .await
        .expect("staging starts");
    assert!(!attempt_staging(&project, "1-load-1").exists());
    assert_eq!(data_files(&folder), logged_adds(&folder));
    // …and by vacuum.
    leave_manifest();
    backdate(&folder.join(STAGING_FOLDER), 2 * HOUR);
    let vacuum = project
        .warehouse
        .vacuum(&totals.table, HOUR, false)
        .await
        .unwrap();
    assert!(vacuum.staged_orphans.is_empty(), "{vacuum:?}");
    assert!(!attempt_staging(&project, "1-load-1").exists());
    assert!(
        committed.iter().all(|path| folder.join(path).exists()),
        "tombstoned files were deleted: {committed:?}"
    );

    assert_eq!(project.rows(READ).await, lines(&["9,quince"]));
    if python_deltalake_available() {
        assert_python_reader_agrees(
            &project,
            &json!({"tables": [{
                "path": folder,
                "version": 0,
                "columns": {"id": "long", "item": "string"},
                "partition_columns": [],
                "partitions": [{"values": {}, "rows": 2}],
                "rows": 2,
            }]}),
        );
    }
}

#[tokio::test]
async fn a_manifest_that_cannot_be_trusted_is_an_error_naming_it_and_deletes_nothing() {
    let project = Project::new();
    stage_and_commit(&project, &day_one(), &commit(1, "load", 1), FIRST_ROWS).await;
    let outside = project.root().join("keep.txt");
    std::fs::write(&outside, "not the table's").unwrap();
    for (manifest, reason) in [
        ("{\"table_paths\": [", "EOF while parsing"),
        (
            "{\"table_paths\": [\"../../../keep.txt\"]}",
            "`../../../keep.txt` is not a path inside the table's folder",
        ),
    ] {
        let staging = attempt_staging(&project, "2-load-1");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("moves.json"), manifest).unwrap();

        let error = project
            .warehouse
            .start_staging(&table("mart.sales"), &commit(2, "load", 2))
            .await
            .expect_err("an untrusted manifest stops the clean-up");
        assert!(
            matches!(error, FlowError::InvalidStagingManifest { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("2-load-1/moves.json") && message.contains(reason),
            "{message}"
        );
        assert!(staging.join("moves.json").exists());
        assert!(outside.exists());
    }
}
