//! A small project in a temporary folder, opened as a front end opens it.

use std::sync::Arc;

use tidewater_control::{
    Concurrency, Control, Execution, IntervalRequest, ManualRunRequest, Resume, SilentObserver,
};
use tidewater_core::{RunId, RunState};
use tidewater_spec::StoreBackend;
use tidewater_sqlite::SqliteStore;

/// A temporary project folder with its workflow files, opened as the CLI opens it.
pub(crate) struct TestProject {
    /// Kept so that the folder lives as long as the project.
    _dir: tempfile::TempDir,
    pub control: Control,
}

impl TestProject {
    pub(crate) async fn new(workflows: &[(&str, &str)]) -> TestProject {
        TestProject::with_config("", workflows).await
    }

    /// A project whose tidewater.toml is `toml`.
    pub(crate) async fn with_config(toml: &str, workflows: &[(&str, &str)]) -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tidewater.toml"), toml).expect("write toml");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
        for (name, text) in workflows {
            std::fs::write(dir.path().join("workflows").join(name), text).expect("write workflow");
        }
        let project = Control::open_project(dir.path()).expect("the project opens");
        let StoreBackend::Sqlite { path } = &project.config.store else {
            panic!("the default store is SQLite");
        };
        let store = SqliteStore::open(path).await.expect("the store opens");
        let control = Control::new(project, Arc::new(store))
            .await
            .expect("control opens");
        TestProject { _dir: dir, control }
    }

    /// A queued manual run of `workflow` for 2026-01-01, not started.
    pub(crate) async fn queue_run(&self, workflow: &str) -> RunId {
        let loaded = self
            .control
            .load_workflow(workflow)
            .expect("workflow loads");
        let request = ManualRunRequest {
            interval: IntervalRequest::Date("2026-01-01".to_owned()),
            params: serde_json::Map::new(),
            concurrency: Concurrency::Allow,
        };
        self.control
            .create_manual_run(&loaded, &request)
            .await
            .expect("the run is created")
            .id
    }

    /// Executes a new run of `workflow` here until it ends, as `tidewater run` does without
    /// a server.
    pub(crate) async fn execute_run(&self, workflow: &str) -> (RunId, RunState) {
        let run = self.queue_run(workflow).await;
        let loaded = self
            .control
            .load_workflow(workflow)
            .expect("workflow loads");
        let execution = Execution {
            workflow: &loaded.workflow,
            run,
            resume: Resume::Continue,
            parallelism: Some(2),
            observer: Arc::new(SilentObserver),
        };
        let state = self
            .control
            .execute(execution, std::future::pending(), |_| {})
            .await
            .expect("the run executes");
        (run, state)
    }
}
