//! The SQLite store's files as a user handles them: copied, backed up, deleted, damaged.

use tidewater_core::RunId;
use tidewater_sqlite::{
    BackupTarget, FilesChange, SqliteStore, SqliteStoreError, StoreProblem, StoreReport,
};
use tidewater_store::{RunFilter, RunStore, Store};

use crate::fixtures::{new_run, store_path};

fn log_of(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

async fn store_with_runs(path: &std::path::Path, count: usize) -> SqliteStore {
    let store = SqliteStore::open(path).await.expect("open");
    for _ in 0..count {
        store
            .create_run(new_run("copied", ["a".into()]))
            .await
            .expect("create_run");
    }
    store
}

async fn run_ids(path: &std::path::Path) -> Vec<RunId> {
    let store = SqliteStore::open(path).await.expect("open");
    let mut ids: Vec<RunId> = store
        .list_runs(&RunFilter::default())
        .await
        .expect("list_runs")
        .into_iter()
        .map(|run| run.id)
        .collect();
    ids.sort();
    ids
}

/// Regression: commits stayed in the write-ahead log until it reached 2 MiB, so copying
/// `tidewater.db` alone (the obvious backup) or deleting the log lost every run.
#[tokio::test]
async fn closing_a_store_that_wrote_leaves_every_commit_in_the_database_file() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    store_with_runs(&path, 3).await.close().await;
    // Dropping, as every command does on its error paths, checkpoints too.
    drop(store_with_runs(&path, 2).await);
    assert_eq!(
        std::fs::metadata(log_of(&path))
            .expect("the log stays")
            .len(),
        0,
        "the log is emptied into the file"
    );
    let alone = folder.path().join("alone.db");
    std::fs::copy(&path, &alone).expect("copy the file alone");
    assert_eq!(
        run_ids(&alone).await,
        (1..=5).map(RunId).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_store_that_only_read_leaves_the_files_as_they_were() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    store_with_runs(&path, 1).await.close().await;
    let before = std::fs::metadata(&path)
        .expect("file")
        .modified()
        .expect("mtime");
    let store = SqliteStore::open(&path).await.expect("open");
    store.list_runs(&RunFilter::default()).await.expect("read");
    store.close().await;
    let after = std::fs::metadata(&path)
        .expect("file")
        .modified()
        .expect("mtime");
    assert_eq!(before, after, "a reader wrote the database file");
}

/// Regression: SQLite ignores a log that is not one, and the next commit overwrites it: the
/// store then silently showed only what the database file held.
#[tokio::test]
async fn a_damaged_write_ahead_log_is_refused_and_left_as_it_is() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    store_with_runs(&path, 1).await.close().await;
    let garbage = vec![0x5a_u8; 4096];
    std::fs::write(log_of(&path), &garbage).expect("damage the log");
    let error = SqliteStore::open(&path).await.err().expect("refused");
    assert!(
        matches!(
            error.backend_error::<SqliteStoreError>(),
            Some(SqliteStoreError::DamagedLog { .. })
        ),
        "unexpected error: {error}"
    );
    assert_eq!(std::fs::read(log_of(&path)).expect("log"), garbage);
    let report = StoreReport::inspect(&path);
    assert!(report.problems.contains(&StoreProblem::DamagedLog));
    assert_eq!(std::fs::read(log_of(&path)).expect("log"), garbage);
}

#[tokio::test]
async fn a_backup_opens_as_a_store_with_the_same_runs_and_never_overwrites_unasked() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    let store = store_with_runs(&path, 4).await;
    let copy = folder.path().join("backup.db");
    store
        .backup(&copy, BackupTarget::NewFile)
        .await
        .expect("backup");
    let error = store
        .backup(&copy, BackupTarget::NewFile)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            error.backend_error::<SqliteStoreError>(),
            Some(SqliteStoreError::BackupExists { .. })
        ),
        "{error}"
    );
    store
        .create_run(new_run("copied", ["a".into()]))
        .await
        .expect("create_run");
    store
        .backup(&copy, BackupTarget::Overwrite)
        .await
        .expect("backup again");
    let error = store
        .backup(&path, BackupTarget::Overwrite)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            error.backend_error::<SqliteStoreError>(),
            Some(SqliteStoreError::BackupOverStore { .. })
        ),
        "{error}"
    );
    store.close().await;
    assert!(!log_of(&copy).exists(), "the backup is one file");
    assert_eq!(run_ids(&copy).await, (1..=5).map(RunId).collect::<Vec<_>>());
}

#[tokio::test]
async fn run_ids_skipped_are_never_given() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    let store = store_with_runs(&path, 2).await;
    assert_eq!(store.highest_run_id().await.expect("read"), Some(RunId(2)));
    store.skip_run_ids_through(RunId(9)).await.expect("skipped");
    // Never lowered.
    store.skip_run_ids_through(RunId(5)).await.expect("no-op");
    assert_eq!(store.highest_run_id().await.expect("read"), Some(RunId(9)));
    let run = store
        .create_run(new_run("copied", ["a".into()]))
        .await
        .expect("create_run");
    assert_eq!(run.id, RunId(10));
}

#[tokio::test]
async fn a_store_notices_its_files_deleted_or_replaced_under_it() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    let store = store_with_runs(&path, 1).await;
    store.verify_store().expect("untouched");
    std::fs::remove_file(log_of(&path)).expect("delete the log");
    match store.verify_store() {
        Err(error)
            if matches!(
                error.backend_error::<SqliteStoreError>(),
                Some(SqliteStoreError::FilesChanged {
                    change: FilesChange::LogDeleted,
                    ..
                })
            ) => {}
        other => panic!("unexpected: {other:?}"),
    }

    let other_folder = tempfile::tempdir().expect("temporary folder");
    let other_path = store_path(&other_folder);
    let store = store_with_runs(&other_path, 1).await;
    store.verify_store().expect("untouched");
    let copy = other_folder.path().join("copy.db");
    std::fs::copy(&other_path, &copy).expect("copy");
    std::fs::rename(&copy, &other_path).expect("replace the file");
    match store.verify_store() {
        Err(error)
            if matches!(
                error.backend_error::<SqliteStoreError>(),
                Some(SqliteStoreError::FilesChanged {
                    change: FilesChange::DatabaseReplaced,
                    ..
                })
            ) => {}
        other => panic!("unexpected: {other:?}"),
    }
}

#[tokio::test]
async fn inspection_counts_a_good_store_and_names_each_kind_of_damage() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = store_path(&folder);
    store_with_runs(&path, 3).await.close().await;
    let report = StoreReport::inspect(&path);
    assert!(report.is_healthy(), "{:?}", report.problems);
    let contents = report.contents.expect("contents");
    assert_eq!((contents.runs, contents.task_instances), (3, 3));
    assert_eq!(contents.highest_run_id, Some(RunId(3)));
    assert_eq!(report.schema_version, Some(report.latest_schema_version));

    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let report = StoreReport::inspect(&path);
    assert!(
        report.problems.iter().any(|problem| matches!(
            problem,
            StoreProblem::Damaged(_) | StoreProblem::Unreadable(_)
        )),
        "{:?}",
        report.problems
    );

    std::fs::write(&path, b"").expect("empty the file");
    let report = StoreReport::inspect(&path);
    assert_eq!(report.problems, [StoreProblem::EmptyDatabase]);
}
