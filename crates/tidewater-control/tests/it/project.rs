//! A small project in a temporary folder, opened as a front end opens it.

use std::sync::Arc;

use tidewater_control::Control;
use tidewater_spec::StoreBackend;
use tidewater_sqlite::SqliteStore;

/// A project with the given workflow files, and its store.
pub(crate) struct TestProject {
    /// The project's folder, removed when the test ends.
    _dir: tempfile::TempDir,
    pub control: Control,
}

impl TestProject {
    pub(crate) async fn new(workflows: &[(&str, &str)]) -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tidewater.toml"), "").expect("write tidewater.toml");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir workflows");
        for (name, text) in workflows {
            std::fs::write(dir.path().join("workflows").join(name), text).expect("write workflow");
        }
        let project = Control::open_project(dir.path()).expect("the project loads");
        let StoreBackend::Sqlite { path } = &project.config.store else {
            panic!("the default store is SQLite");
        };
        let store = SqliteStore::open(path).await.expect("open the store");
        let control = Control::new(project, Arc::new(store))
            .await
            .expect("open the project");
        TestProject { _dir: dir, control }
    }
}
