use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::did_you_mean::did_you_mean;
use crate::workflow_file::WorkflowFile;
use crate::{Diagnostics, LoadedWorkflow, Problem, ProblemKind, ProjectConfig};

/// A project folder: `tidewater.toml` and the workflow files under `workflows/`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder as it was given; file names in diagnostics start with it.
    pub root: PathBuf,
    pub config: ProjectConfig,
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
        let directory = self.root.join(WORKFLOWS_DIR);
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
    /// first (by path) is kept and the others are reported.
    pub fn load_workflows(&self) -> (Vec<LoadedWorkflow>, Diagnostics) {
        let mut diagnostics = Diagnostics::new();
        let paths = match self.workflow_paths() {
            Ok(paths) => paths,
            Err(error) => {
                diagnostics.push(read_failed(&self.root.join(WORKFLOWS_DIR), &error));
                return (Vec::new(), diagnostics);
            }
        };
        let mut loaded = Vec::new();
        let mut first_paths: HashMap<String, PathBuf> = HashMap::new();
        for path in paths {
            let (name, result) = self.load_file(&path, &mut first_paths);
            match result {
                Ok(workflow) => loaded.push(workflow),
                Err(problems) => diagnostics.extend(problems),
            }
            first_paths.entry(name).or_insert(path);
        }
        (loaded, diagnostics)
    }

    /// Loads the workflow called `name` (its `name` key, or else its file stem).
    pub fn load_workflow(&self, name: &str) -> Result<LoadedWorkflow, Diagnostics> {
        let paths = self
            .workflow_paths()
            .map_err(|error| read_failed(&self.root.join(WORKFLOWS_DIR), &error))?;
        let mut first_paths: HashMap<String, PathBuf> = HashMap::new();
        let mut found = None;
        for path in paths {
            let (file_name, result) = self.load_file(&path, &mut first_paths);
            if file_name == name {
                // The first file with the name is the workflow; a later one carries the
                // duplicate report, which must not hide the first.
                found.get_or_insert(result);
            }
            first_paths.entry(file_name).or_insert(path);
        }
        if let Some(result) = found {
            return result;
        }
        let mut known: Vec<String> = first_paths.into_keys().collect();
        known.sort();
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
        file.outcome
            .map(|workflow| LoadedWorkflow::new(path.to_path_buf(), source.to_owned(), workflow))
    }

    /// Reads and checks one file; reports its name as a duplicate if an earlier file in
    /// `first_paths` has it.
    fn load_file(
        &self,
        path: &Path,
        first_paths: &mut HashMap<String, PathBuf>,
    ) -> (String, Result<LoadedWorkflow, Diagnostics>) {
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            Err(error) => {
                let stem = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return (stem, Err(read_failed(path, &error).into()));
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
        let result = match (file.outcome, duplicate) {
            (Ok(workflow), None) => Ok(LoadedWorkflow::new(path.to_path_buf(), source, workflow)),
            (Ok(_), Some(duplicate)) => Err(duplicate.into()),
            (Err(mut problems), duplicate) => {
                problems.extend(duplicate.into_iter().collect());
                Err(problems)
            }
        };
        (file.name, result)
    }
}

fn read_failed(path: &Path, error: &io::Error) -> Problem {
    Problem::new(ProblemKind::ReadFailed {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}
