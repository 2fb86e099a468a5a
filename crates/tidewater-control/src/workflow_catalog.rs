//! The service's view of the project's workflow files, kept current by a file watcher: the
//! last good version of every workflow, and each file's problems.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use tidewater_core::WorkflowName;
use tidewater_engine::Catalog;
use tidewater_spec::{LoadedWorkflow, Project};
use tidewater_store::WorkflowHealth;
use tokio::sync::{mpsc, watch};

use crate::control_error::{ControlError, ControlResult};

/// Changes to several files within this time are read as one.
const SETTLE: Duration = Duration::from_millis(100);

/// How often the folder is also compared with what was read last, for a change the watcher
/// did not report (inotify drops events when its queue overflows, and some file systems,
/// network ones among them, send none).
const RESCAN: Duration = Duration::from_secs(2);

/// A folder's files as seen from outside: each path with its size and modification time,
/// or `None` when the folder cannot be listed. Equal fingerprints mean nothing to read again.
pub(crate) type Fingerprint = Option<Vec<(PathBuf, Option<(u64, SystemTime)>)>>;

/// The fingerprint of these files (`Project::workflow_paths`, `Project::view_paths`).
pub(crate) fn fingerprint(paths: std::io::Result<Vec<PathBuf>>) -> Fingerprint {
    let paths = paths.ok()?;
    Some(
        paths
            .into_iter()
            .map(|path| {
                let seen = std::fs::metadata(&path)
                    .and_then(|metadata| Ok((metadata.len(), metadata.modified()?)))
                    .ok();
                (path, seen)
            })
            .collect(),
    )
}

/// Builds catalogs, remembering which workflow each file held, so that a file that breaks
/// keeps its workflow's last good version.
pub(crate) struct CatalogBuilder {
    project: Arc<Project>,
    /// The last good version of each file.
    last_good: HashMap<PathBuf, Arc<LoadedWorkflow>>,
}

/// What changed between two catalogs, for the service's log.
pub(crate) struct CatalogChanges {
    pub lines: Vec<String>,
}

impl CatalogBuilder {
    pub(crate) fn new(project: Arc<Project>) -> CatalogBuilder {
        CatalogBuilder {
            project,
            last_good: HashMap::new(),
        }
    }

    /// Reads every workflow file again.
    pub(crate) fn build(&mut self) -> (Catalog, CatalogChanges) {
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
        relative_to(&self.project, path)
    }
}

/// A project file's path as the server's log shows it: relative to the project folder.
pub(crate) fn relative_to(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Watches the project's `workflows/` folder and publishes a new catalog whenever a file
/// changes (reported by the watcher, or found by comparing the folder every [`RESCAN`]). Returns the receiver and the watcher, which must be kept alive.
pub(crate) fn watch_catalog(
    project: Arc<Project>,
    log: impl Fn(&str) + Send + 'static,
) -> ControlResult<(watch::Receiver<Arc<Catalog>>, notify::RecommendedWatcher)> {
    let mut builder = CatalogBuilder::new(project.clone());
    // Taken before reading the files, so that an edit made meanwhile shows as a change.
    let mut seen = fingerprint(project.workflow_paths());
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
    })
    .map_err(|error| ControlError::environment("cannot start the file watcher", error))?;
    let folder = project.root.join("workflows");
    watcher
        .watch(&folder, RecursiveMode::Recursive)
        .map_err(|error| {
            ControlError::environment(
                format!("cannot watch {} for changes", folder.display()),
                error,
            )
        })?;
    tokio::spawn(async move {
        let mut rescan = tokio::time::interval_at(tokio::time::Instant::now() + RESCAN, RESCAN);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Taken before reading the files, so that an edit made meanwhile shows as a change.
            let now = tokio::select! {
                event = changed.recv() => {
                    if event.is_none() {
                        return;
                    }
                    // Editors write in several steps (truncate, write, rename): let them
                    // settle.
                    tokio::time::sleep(SETTLE).await;
                    while changed.try_recv().is_ok() {}
                    fingerprint(project.workflow_paths())
                }
                _ = rescan.tick() => {
                    let now = fingerprint(project.workflow_paths());
                    if now == seen {
                        continue;
                    }
                    now
                }
            };
            seen = now;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The rescan reads the files again only when the fingerprint moves: an edit, a new
    /// file or a removed one moves it, and nothing else does.
    #[test]
    fn the_fingerprint_moves_with_every_change_to_the_workflow_files() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(folder.path().join("tidewater.toml"), "").expect("write");
        std::fs::create_dir(folder.path().join("workflows")).expect("mkdir");
        let file = folder.path().join("workflows/a.yaml");
        std::fs::write(&file, "tasks:\n  a:\n    sh: \"true\"\n").expect("write");
        let project = Project::open(folder.path()).expect("the project opens");

        let first = fingerprint(project.workflow_paths());
        assert!(first.as_ref().is_some_and(|files| files.len() == 1));
        assert_eq!(
            fingerprint(project.workflow_paths()),
            first,
            "nothing changed"
        );

        std::fs::write(&file, "tasks:\n  a:\n    sh: \"echo edited\"\n").expect("edit");
        let edited = fingerprint(project.workflow_paths());
        assert_ne!(edited, first, "an edit");

        let other = folder.path().join("workflows/b.yaml");
        std::fs::write(&other, "tasks:\n  b:\n    empty: {}\n").expect("write");
        let added = fingerprint(project.workflow_paths());
        assert_ne!(added, edited, "a new file");

        std::fs::remove_file(&other).expect("remove");
        assert_eq!(
            fingerprint(project.workflow_paths()),
            edited,
            "the new file removed again"
        );
    }
}
