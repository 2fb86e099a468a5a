use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidewater_core::{SqlAction, TableName, TaskAction};

use crate::did_you_mean::did_you_mean;
use crate::kinds::{WorkflowReference, WorkflowRelation};
use crate::name_scan::{NameScan, scan_name};
use crate::workflow_file::{WaitedWorkflow, WorkflowFile};
use crate::{Diagnostics, LoadedWorkflow, Problem, ProblemKind, ProjectConfig};

/// A project folder: `tidewater.toml` and the workflow files under `workflows/`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder as it was given; file names in diagnostics start with it.
    pub root: PathBuf,
    pub config: ProjectConfig,
}

/// One workflow file read and checked on its own, before the checks that need the others.
struct ReadFile {
    /// Its workflow's name (the `name` key, or else the file stem).
    name: String,
    path: PathBuf,
    text: Arc<str>,
    result: Result<LoadedWorkflow, Diagnostics>,
    waited_workflows: Vec<WaitedWorkflow>,
    trigger_workflows: Vec<WorkflowReference>,
}

const PROJECT_FILE: &str = "tidewater.toml";
const WORKFLOWS_DIR: &str = "workflows";

impl Project {
    /// Reads `<root>/tidewater.toml`, which must exist.
    pub fn open(root: &Path) -> Result<Project, Diagnostics> {
        let path = root.join(PROJECT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(Problem::new(ProblemKind::ProjectFileMissing {
                    root: root.to_path_buf(),
                })
                .into());
            }
            Err(error) => return Err(read_failed(&path, &error).into()),
        };
        // The state folder is handed to other processes, so it must not depend on the
        // working directory of whoever reads it later.
        let absolute_root = std::path::absolute(root).map_err(|error| read_failed(root, &error))?;
        let config = ProjectConfig::parse(&absolute_root, &path, &text)?;
        Ok(Project {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Every `workflows/*.yaml` and `workflows/*.yml`, sorted by path. A project without a
    /// `workflows` folder has none.
    pub fn workflow_paths(&self) -> io::Result<Vec<PathBuf>> {
        self.yaml_files(WORKFLOWS_DIR)
    }

    /// Every `*.yaml` and `*.yml` file of the project's folder `folder` (`workflows`,
    /// `views`, `streams`), sorted by path. A missing folder has none.
    pub fn yaml_files(&self, folder: &str) -> io::Result<Vec<PathBuf>> {
        let directory = self.root.join(folder);
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let is_yaml = path
                .extension()
                .is_some_and(|extension| extension == "yaml" || extension == "yml");
            if is_yaml && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Loads every workflow file. Returns the valid workflows and the problems of all the
    /// others, every problem of every file. Of several files with the same workflow name the
    /// first (by path) is kept and the others are reported. A workflow whose tasks wait for a
    /// workflow the project does not have is not valid.
    pub fn load_workflows(&self) -> (Vec<LoadedWorkflow>, Diagnostics) {
        let mut diagnostics = Diagnostics::new();
        let paths = match self.workflow_paths() {
            Ok(paths) => paths,
            Err(error) => {
                diagnostics.push(read_failed(&self.root.join(WORKFLOWS_DIR), &error));
                return (Vec::new(), diagnostics);
            }
        };
        let mut first_paths: HashMap<String, PathBuf> = HashMap::new();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let file = self.check_file(&path, std::fs::read_to_string(&path), &first_paths);
            first_paths.entry(file.name.clone()).or_insert(path);
            files.push(file);
        }
        let known = known_names(&first_paths);
        let calls = CallGraph::new(&files, &first_paths);
        let mut loaded = Vec::new();
        for file in files {
            let cycles = calls.cycles_through(&file);
            match check_waited_workflows(file, &known) {
                Ok(_) if !cycles.is_empty() => diagnostics.extend(cycles),
                Ok(workflow) => loaded.push(workflow),
                Err(problems) => {
                    diagnostics.extend(problems);
                    diagnostics.extend(cycles);
                }
            }
        }
        (loaded, diagnostics)
    }

    /// Loads the workflow called `name` (its `name` key, or else its file stem). Only the
    /// files that may be it are parsed: the others' names come from a quick look at their
    /// text (`scan_name`), or from parsing where that look is unsure. The result is the
    /// same as parsing every file.
    pub fn load_workflow(&self, name: &str) -> Result<LoadedWorkflow, Diagnostics> {
        self.find_workflow(name, true)
    }

    /// [`Project::load_workflow`]; without `quick_look`, every file is parsed.
    fn find_workflow(&self, name: &str, quick_look: bool) -> Result<LoadedWorkflow, Diagnostics> {
        let paths = self
            .workflow_paths()
            .map_err(|error| read_failed(&self.root.join(WORKFLOWS_DIR), &error))?;
        let mut first_paths: HashMap<String, PathBuf> = HashMap::new();
        let mut found = None;
        for path in paths {
            let source = std::fs::read_to_string(&path);
            let quick = match &source {
                Ok(source) if quick_look => match scan_name(source) {
                    NameScan::Named(named) => Some(named),
                    NameScan::Stem => Some(file_stem(&path)),
                    NameScan::Unsure => None,
                },
                _ => None,
            };
            if let Some(quick) = &quick
                && (quick != name || found.is_some())
            {
                first_paths.entry(quick.clone()).or_insert(path);
                continue;
            }
            let file = self.check_file(&path, source, &first_paths);
            if quick.is_some() && file.name != name {
                // The quick look was wrong after all: parse everything.
                return self.find_workflow(name, false);
            }
            first_paths.entry(file.name.clone()).or_insert(path);
            if file.name == name {
                // The first file with the name is the workflow; a later one carries the
                // duplicate report, which must not hide the first.
                found.get_or_insert(file);
            }
        }
        let known = known_names(&first_paths);
        if let Some(file) = found {
            return check_waited_workflows(file, &known);
        }
        let suggestion = did_you_mean(name, known.iter().map(String::as_str));
        Err(Problem::new(ProblemKind::UnknownWorkflow {
            name: name.to_owned(),
            known,
            suggestion,
        })
        .into())
    }

    /// Parses a workflow from `source` as if read from `path`, e.g. the exact version a run
    /// was pinned to. The same checks as for files apply.
    pub fn parse_workflow(&self, path: &Path, source: &str) -> Result<LoadedWorkflow, Diagnostics> {
        let file = WorkflowFile::parse(self, path, source);
        let trigger_tables = file.trigger_tables;
        file.outcome.map(|workflow| {
            let mut loaded = LoadedWorkflow::new(path.to_path_buf(), source.to_owned(), workflow);
            loaded.trigger_tables = trigger_tables;
            loaded
        })
    }

    /// Parses the version of workflow `name` a run was pinned to (its recorded `source`).
    /// Diagnostics point at `workflows/<name>.yaml`, where such a workflow usually lives.
    pub fn parse_pinned(&self, name: &str, source: &str) -> Result<LoadedWorkflow, Diagnostics> {
        let path = self.root.join(WORKFLOWS_DIR).join(format!("{name}.yaml"));
        self.parse_workflow(&path, source)
    }

    /// Checks one file read from `path`; reports its name as a duplicate if an earlier file in
    /// `first_paths` has it.
    fn check_file(
        &self,
        path: &Path,
        source: io::Result<String>,
        first_paths: &HashMap<String, PathBuf>,
    ) -> ReadFile {
        let source = match source {
            Ok(source) => source,
            Err(error) => {
                return ReadFile {
                    name: file_stem(path),
                    path: path.to_path_buf(),
                    text: Arc::from(""),
                    result: Err(read_failed(path, &error).into()),
                    waited_workflows: Vec::new(),
                    trigger_workflows: Vec::new(),
                };
            }
        };
        let file = WorkflowFile::parse(self, path, &source);
        let duplicate = first_paths.get(&file.name).map(|first| {
            Problem::at(
                ProblemKind::DuplicateWorkflow {
                    name: file.name.clone(),
                    first: first.clone(),
                },
                path,
                file.text.clone(),
                file.name_span.clone().unwrap_or(0..0),
            )
        });
        let trigger_tables = file.trigger_tables;
        let result = match (file.outcome, duplicate) {
            (Ok(workflow), None) => {
                let mut loaded = LoadedWorkflow::new(path.to_path_buf(), source, workflow);
                loaded.trigger_tables = trigger_tables;
                Ok(loaded)
            }
            (Ok(_), Some(duplicate)) => Err(duplicate.into()),
            (Err(mut problems), duplicate) => {
                problems.extend(duplicate.into_iter().collect());
                Err(problems)
            }
        };
        ReadFile {
            name: file.name,
            path: path.to_path_buf(),
            text: file.text,
            result,
            waited_workflows: file.waited_workflows,
            trigger_workflows: file.trigger_workflows,
        }
    }
}

impl Project {
    /// The check of `schedule: { on: [{ table }] }` that needs the warehouse: every table named
    /// must be one a workflow of the project writes (`sql` with `into`) or one the warehouse
    /// has (`warehouse_tables`, written by something else). The caller lists the warehouse,
    /// which this crate cannot read.
    pub fn check_trigger_tables(
        workflows: &[LoadedWorkflow],
        warehouse_tables: &[TableName],
    ) -> Diagnostics {
        let mut known: Vec<String> = workflows
            .iter()
            .flat_map(|loaded| loaded.workflow.tasks())
            .filter_map(|task| match &task.action {
                TaskAction::Sql(SqlAction {
                    into: Some(target), ..
                }) => Some(target.table.to_string()),
                _ => None,
            })
            .chain(warehouse_tables.iter().map(ToString::to_string))
            .collect();
        known.sort();
        known.dedup();
        let mut problems = Diagnostics::new();
        for loaded in workflows {
            for (table, span) in &loaded.trigger_tables {
                let name = table.to_string();
                if known.contains(&name) {
                    continue;
                }
                let suggestion = did_you_mean(&name, known.iter().map(String::as_str));
                let text: Arc<str> = Arc::from(loaded.source.as_str());
                problems.push(Problem::at(
                    ProblemKind::UnknownTriggerTable {
                        table: name,
                        known: known.clone(),
                        suggestion,
                    },
                    &loaded.path,
                    text,
                    span.clone(),
                ));
            }
        }
        problems
    }
}

/// Every workflow name of the project, sorted; a file with problems still names one.
/// A workflow's name when its file has no `name` key.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn known_names(first_paths: &HashMap<String, PathBuf>) -> Vec<String> {
    let mut known: Vec<String> = first_paths.keys().cloned().collect();
    known.sort();
    known
}

/// The cross-file check: every workflow a task waits for, or a data-aware schedule starts
/// runs on, must be in the project. A
/// workflow that fails it is not loaded, like one with any other problem.
fn check_waited_workflows(file: ReadFile, known: &[String]) -> Result<LoadedWorkflow, Diagnostics> {
    let loaded = file.result?;
    let mut problems = Diagnostics::new();
    // The other workflows of the project, and the one closest to `name`, when `name` is not
    // one of them.
    let unknown = |name: &str| -> Option<(Vec<String>, Option<String>)> {
        if known.iter().any(|known| known == name) {
            return None;
        }
        let others: Vec<String> = known
            .iter()
            .filter(|known| **known != file.name)
            .cloned()
            .collect();
        let suggestion = did_you_mean(name, others.iter().map(String::as_str));
        Some((others, suggestion))
    };
    for waited in &file.waited_workflows {
        let name = waited.workflow.name.as_str();
        let Some((others, suggestion)) = unknown(name) else {
            continue;
        };
        let task = waited.task.clone();
        let workflow = name.to_owned();
        problems.push(Problem::at(
            match waited.workflow.relation {
                WorkflowRelation::Waits => ProblemKind::UnknownWaitWorkflow {
                    task,
                    workflow,
                    known: others,
                    suggestion,
                },
                WorkflowRelation::Calls => ProblemKind::UnknownCallWorkflow {
                    task,
                    workflow,
                    known: others,
                    suggestion,
                },
                WorkflowRelation::StartsAfter => ProblemKind::UnknownTriggerWorkflow {
                    workflow,
                    known: others,
                    suggestion,
                },
            },
            &file.path,
            file.text.clone(),
            waited.workflow.span.clone(),
        ));
    }
    for trigger in &file.trigger_workflows {
        let name = trigger.name.as_str();
        let Some((others, suggestion)) = unknown(name) else {
            continue;
        };
        problems.push(Problem::at(
            ProblemKind::UnknownTriggerWorkflow {
                workflow: name.to_owned(),
                known: others,
                suggestion,
            },
            &file.path,
            file.text.clone(),
            trigger.span.clone(),
        ));
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

/// Which workflow calls which (`call: { workflow }`), from the first file of each name: a
/// run of a workflow on a cycle would start child runs without end.
struct CallGraph {
    calls: HashMap<String, Vec<String>>,
}

impl CallGraph {
    fn new(files: &[ReadFile], first_paths: &HashMap<String, PathBuf>) -> CallGraph {
        let mut calls: HashMap<String, Vec<String>> = HashMap::new();
        for file in files {
            if first_paths.get(&file.name) != Some(&file.path) {
                continue;
            }
            let called = file
                .waited_workflows
                .iter()
                .filter(|reference| reference.workflow.relation == WorkflowRelation::Calls)
                .map(|reference| reference.workflow.name.clone());
            calls.entry(file.name.clone()).or_default().extend(called);
        }
        CallGraph { calls }
    }

    /// A problem at each call of `file` that leads back to it, naming the shortest cycle.
    fn cycles_through(&self, file: &ReadFile) -> Diagnostics {
        let mut problems = Diagnostics::new();
        for call in &file.waited_workflows {
            if call.workflow.relation != WorkflowRelation::Calls {
                continue;
            }
            if let Some(path) = self.shortest_path(&call.workflow.name, &file.name) {
                let mut cycle = vec![file.name.clone()];
                cycle.extend(path);
                problems.push(Problem::at(
                    ProblemKind::CallCycle {
                        task: call.task.clone(),
                        workflow: call.workflow.name.clone(),
                        cycle,
                    },
                    &file.path,
                    file.text.clone(),
                    call.workflow.span.clone(),
                ));
            }
        }
        problems
    }

    /// The workflows from `from` (included) to just before `to`, following calls; `None`
    /// if `to` cannot be reached.
    fn shortest_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut frontier = std::collections::VecDeque::from([from]);
        while let Some(current) = frontier.pop_front() {
            for next in self.calls.get(current).into_iter().flatten() {
                if next == to {
                    let mut path = vec![current.to_owned()];
                    let mut at = current;
                    while let Some(&before) = previous.get(at) {
                        path.push(before.to_owned());
                        at = before;
                    }
                    path.reverse();
                    return Some(path);
                }
                if next != from && !previous.contains_key(next.as_str()) {
                    previous.insert(next.as_str(), current);
                    frontier.push_back(next.as_str());
                }
            }
        }
        None
    }
}

pub(crate) fn read_failed(path: &Path, error: &io::Error) -> Problem {
    Problem::new(ProblemKind::ReadFailed {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}
