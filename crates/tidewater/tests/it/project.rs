use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary project folder and a way to run the binary in it.
pub(crate) struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    /// An empty project with the given tidewater.toml and workflow files.
    pub(crate) fn new(toml: &str, workflows: &[(&str, &str)]) -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tidewater.toml"), toml).expect("write toml");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
        for (name, text) in workflows {
            std::fs::write(dir.path().join("workflows").join(name), text).expect("write workflow");
        }
        TestProject { dir }
    }

    /// The example project written by `tidewater init`.
    pub(crate) fn example() -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = tidewater(dir.path(), &["init"]);
        assert!(
            output.status.success(),
            "init failed: {}",
            text(&output.stderr)
        );
        TestProject { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        tidewater(self.root(), args)
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        command(self.root(), args)
    }

    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|error| panic!("cannot read {name}: {error}"))
    }

    pub(crate) fn status_json(&self, run: &str) -> serde_json::Value {
        let output = self.run(&["status", run, "--json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }
}

pub(crate) fn command(project: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidewater"));
    command
        .arg("--project")
        .arg(project)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("TIDEWATER_LOG");
    command
}

pub(crate) fn tidewater(project: &Path, args: &[&str]) -> Output {
    command(project, args).output().expect("the binary runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The states of a run's tasks from `status --json`, as (task, state).
pub(crate) fn task_states(status: &serde_json::Value) -> Vec<(String, String)> {
    status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|task| {
            (
                task["task"].as_str().expect("name").to_owned(),
                task["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

/// Runs the Python script `tests/<script>` with `input` on its standard input.
pub(crate) fn python_script(script: &str, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;

    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let mut child = Command::new("python3")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write the script's input");
    child.wait_with_output().expect("the script ends")
}
