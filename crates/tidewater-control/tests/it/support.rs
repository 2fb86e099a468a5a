//! A project in a temporary folder, opened as a [`Control`] on a real SQLite store.

use std::path::Path;
use std::sync::Arc;

use tidewater_control::Control;
use tidewater_spec::StoreBackend;
use tidewater_sqlite::SqliteStore;

pub(crate) struct TestProject {
    pub folder: tempfile::TempDir,
}

impl TestProject {
    /// A project with these workflow files (`name.yaml`, text).
    pub(crate) fn new(workflows: &[(&str, &str)]) -> TestProject {
        let folder = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(folder.path().join("tidewater.toml"), "").expect("tidewater.toml");
        std::fs::create_dir(folder.path().join("workflows")).expect("workflows/");
        for (name, text) in workflows {
            std::fs::write(folder.path().join("workflows").join(name), text).expect("workflow");
        }
        TestProject { folder }
    }

    pub(crate) fn root(&self) -> &Path {
        self.folder.path()
    }

    /// The project and its store, as the binary opens them.
    pub(crate) async fn open(&self) -> Control {
        let project = Control::open_project(self.root()).expect("the project opens");
        let StoreBackend::Sqlite { path } = &project.config.store else {
            panic!("the default store is SQLite");
        };
        let store = SqliteStore::open(path).await.expect("the store opens");
        Control::new(project, Arc::new(store))
            .await
            .expect("the store agrees with its logs")
    }
}
