//! The service's view of the project's workflow files, kept current by a file watcher: the
//! last good version of every workflow, and each file's problems.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tidewater_core::WorkflowName;
use tidewater_engine::Catalog;
use tidewater_spec::{LoadedWorkflow, Project};
use tidewater_store::WorkflowHealth;
use tokio::sync::{mpsc, watch};

/// Changes to several files within this time are read as one.
const SETTLE: Duration = Duration::from_millis(100);

/// Builds catalogs, remembering which workflow each file held, so that a file that breaks
/// keeps its workflow's last good version.
pub struct CatalogBuilder {
    project: Arc<Project>,
    /// The last good version of each file.
    last_good: HashMap<PathBuf, Arc<LoadedWorkflow>>,
}

/// What changed between two catalogs, for the service's log.
pub struct CatalogChanges {
    pub lines: Vec<String>,
}

impl CatalogBuilder {
    pub fn new(project: Arc<Project>) -> CatalogBuilder {
        CatalogBuilder {
            project,
            last_good: HashMap::new(),
        }
    }

    /// Reads every workflow file again.
    pub fn build(&mut self) -> (Catalog, CatalogChanges) {
        let mut changes = CatalogChanges { lines: Vec::new() };
        let paths = match self.project.workflow_paths() {
            Ok(paths) => paths,
            Err(error) => {
                changes.lines.push(format!(
                    "cannot list {}: {error}; keeping every workflow as it was",
                    self.project.root.join("workflows").display()
                ));
                return (self.catalog_of_last_good(), changes);
            }
        };
        let mut catalog = Catalog::default();
        let mut files_of: HashMap<WorkflowName, PathBuf> = HashMap::new();
        let previous = std::mem::take(&mut self.last_good);
        for path in paths {
            let relative = self.relative(&path);
            let parsed = std::fs::read_to_string(&path)
                .map_err(|error| format!("cannot read {relative}: {error}"))
                .and_then(|source| {
                    self.project
                        .parse_workflow(&path, &source)
                        .map_err(|diagnostics| diagnostics.render(false))
                });
            let kept = previous.get(&path).cloned();
            let (current, problem) = match parsed {
                Ok(loaded) => {
                    match &kept {
                        Some(old) if old.hash == loaded.hash => {}
                        Some(_) => changes.lines.push(format!(
                            "{relative}: workflow {} changed; new runs use the new version",
                            loaded.workflow.name
                        )),
                        None => changes.lines.push(format!(
                            "{relative}: workflow {} loaded",
                            loaded.workflow.name
                        )),
                    }
                    (Some(Arc::new(loaded)), None)
                }
                Err(problem) => {
                    let keeping = match &kept {
                        Some(old) => format!(
                            "; workflow {} keeps running its last good version",
                            old.workflow.name
                        ),
                        None => String::new(),
                    };
                    changes
                        .lines
                        .push(format!("{relative} has problems{keeping}:\n{problem}"));
                    (kept, Some(problem))
                }
            };
            let mut problem = problem;
            if let Some(loaded) = &current {
                let name = loaded.workflow.name.clone();
                if let Some(first) = files_of.get(&name) {
                    let duplicate = format!(
                        "workflow {name} is already defined in {}; this file is ignored",
                        self.relative(first)
                    );
                    changes.lines.push(format!("{relative}: {duplicate}"));
                    catalog.files.push(WorkflowHealth {
                        file: relative,
                        workflow: None,
                        workflow_hash: None,
                        next_due: None,
                        problem: Some(duplicate),
                    });
                    continue;
                }
                files_of.insert(name.clone(), path.clone());
                catalog.workflows.insert(name, loaded.clone());
                self.last_good.insert(path.clone(), loaded.clone());
            }
            catalog.files.push(WorkflowHealth {
                file: relative,
                workflow: current.as_ref().map(|loaded| loaded.workflow.name.clone()),
                workflow_hash: current.as_ref().map(|loaded| loaded.hash.clone()),
                next_due: None,
                problem: problem.take(),
            });
        }
        for (path, old) in &previous {
            if !self.last_good.contains_key(path) && !path.exists() {
                changes.lines.push(format!(
                    "{}: removed; workflow {} gets no new runs",
                    self.relative(path),
                    old.workflow.name
                ));
            }
        }
        (catalog, changes)
    }

    fn catalog_of_last_good(&self) -> Catalog {
        let mut catalog = Catalog::default();
        for (path, loaded) in &self.last_good {
            catalog
                .workflows
                .insert(loaded.workflow.name.clone(), loaded.clone());
            catalog.files.push(WorkflowHealth {
                file: self.relative(path),
                workflow: Some(loaded.workflow.name.clone()),
                workflow_hash: Some(loaded.hash.clone()),
                next_due: None,
                problem: None,
            });
        }
        catalog
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.project.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// Watches the project's `workflows/` folder and publishes a new catalog whenever a file
/// changes. Returns the receiver and the watcher, which must be kept alive.
pub fn watch_catalog(
    project: Arc<Project>,
    log: impl Fn(&str) + Send + 'static,
) -> anyhow::Result<(watch::Receiver<Arc<Catalog>>, notify::RecommendedWatcher)> {
    let mut builder = CatalogBuilder::new(project.clone());
    let (catalog, changes) = builder.build();
    for line in &changes.lines {
        log(line);
    }
    let (publish, receiver) = watch::channel(Arc::new(catalog));
    let (events, mut changed) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let touches_content = event.is_ok_and(|event| !event.kind.is_access());
        if touches_content {
            let _ = events.send(());
        }
    })?;
    let folder = project.root.join("workflows");
    watcher
        .watch(&folder, RecursiveMode::Recursive)
        .map_err(|error| {
            anyhow::anyhow!("cannot watch {} for changes: {error}", folder.display())
        })?;
    tokio::spawn(async move {
        while changed.recv().await.is_some() {
            // Editors write in several steps (truncate, write, rename): let them settle.
            tokio::time::sleep(SETTLE).await;
            while changed.try_recv().is_ok() {}
            let (catalog, changes) = builder.build();
            for line in &changes.lines {
                log(line);
            }
            if publish.send(Arc::new(catalog)).is_err() {
                return;
            }
        }
    });
    Ok((receiver, watcher))
}
