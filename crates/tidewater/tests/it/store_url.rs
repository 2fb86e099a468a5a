//! `[store] url` in tidewater.toml: which backend keeps the runs, and where.

use crate::project::{TestProject, text};

const WORKFLOWS: [(&str, &str); 1] = [("ok.yaml", "tasks:\n  a:\n    sh: echo ok\n")];

#[test]
fn a_store_url_of_a_backend_this_build_lacks_is_refused_at_its_line() {
    let project = TestProject::new(
        "parallelism = 2\n[store]\nurl = \"mysql://db.example/tidewater\"\n",
        &WORKFLOWS,
    );
    for args in [&["runs"][..], &["run", "ok"], &["store", "check"]] {
        let output = project.run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("this build of tidewater has no `mysql` store backend"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("tidewater.toml:3:7"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("available store backends: sqlite, postgres"),
            "{args:?}: {stderr}"
        );
    }
    // Nothing was created: the refusal comes before any store is opened.
    assert!(!project.path(".tidewater").exists());
}

#[test]
fn a_sqlite_url_puts_the_store_in_that_file_and_the_logs_stay_in_the_state_folder() {
    let project = TestProject::new("[store]\nurl = \"sqlite:other.db\"\n", &WORKFLOWS);
    let output = project.run(&["run", "ok"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(project.path("other.db").is_file(), "the store is other.db");
    assert!(
        !project.path(".tidewater/tidewater.db").exists(),
        "no store in the default place"
    );
    assert!(
        project.path(".tidewater/logs/1").is_dir(),
        "the run's logs are in the state folder"
    );

    let listed = project.run(&["runs", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");

    // `store check` reads the configured file.
    let checked = project.run(&["store", "check"]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    let report = text(&checked.stdout);
    assert!(report.contains("other.db"), "{report}");
}
