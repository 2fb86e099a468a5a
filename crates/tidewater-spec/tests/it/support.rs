//! A throwaway project folder with pools and a script, for loading workflows from.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tidewater_spec::{Diagnostics, LoadedWorkflow, Project};

pub(crate) const PROJECT_TOML: &str = r#"
parallelism = 8

[pools.source_api]
slots = 2

[pools.warehouse]
slots = 4

[connections.warehouse]
url = "postgres://loader@db.example/analytics"
password = "env:WAREHOUSE_PASSWORD"
extra = { region = "eu" }
"#;

pub(crate) struct TestProject {
    // Kept so the folder lives as long as the project.
    _folder: TempDir,
    pub root: PathBuf,
}

impl TestProject {
    /// A project with `tidewater.toml` (pools `source_api` and `warehouse`) and the scripts
    /// `scripts/extract.sh` and `scripts/alert.sh`.
    pub(crate) fn new() -> TestProject {
        let folder = tempfile::tempdir().expect("temporary folder");
        let root = folder.path().to_path_buf();
        std::fs::write(root.join("tidewater.toml"), PROJECT_TOML).expect("write config");
        std::fs::create_dir_all(root.join("scripts")).expect("scripts folder");
        std::fs::create_dir_all(root.join("workflows")).expect("workflows folder");
        for script in ["extract.sh", "alert.sh"] {
            std::fs::write(root.join("scripts").join(script), "#!/bin/sh\n").expect("script");
        }
        TestProject {
            _folder: folder,
            root,
        }
    }

    pub(crate) fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent folder");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    pub(crate) fn open(&self) -> Project {
        Project::open(&self.root).unwrap_or_else(|problems| panic!("{problems}"))
    }

    /// Replaces the temporary folder in rendered output, so snapshots are stable.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.root.display().to_string(), "[project]")
    }
}

/// Parses `source` as `workflows/<name>.yaml` of a fresh test project.
pub(crate) fn parse(name: &str, source: &str) -> Result<LoadedWorkflow, Diagnostics> {
    let project = TestProject::new();
    let path = Path::new("workflows").join(format!("{name}.yaml"));
    project.open().parse_workflow(&path, source)
}

/// The rendered problems of a workflow that must not load.
pub(crate) fn problems_of(name: &str, source: &str) -> String {
    match parse(name, source) {
        Ok(_) => panic!("`{name}` loaded, but problems were expected"),
        Err(problems) => problems.render(false),
    }
}

/// The problem codes, in order.
pub(crate) fn codes_of(name: &str, source: &str) -> Vec<&'static str> {
    match parse(name, source) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .iter()
            .map(|problem| problem.kind().code())
            .collect(),
    }
}
