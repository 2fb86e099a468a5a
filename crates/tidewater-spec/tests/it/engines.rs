//! `[engines.NAME]` in tidewater.toml and `engine: NAME` on `sql` tasks (issue 20): parsed in
//! every build, and an engine the project does not declare is a `validate` error at its
//! place.

use std::path::Path;

use tidewater_core::{EngineName, TaskAction};
use tidewater_spec::{EngineConfig, Project};

use crate::support::TestProject;

const ENGINES_TOML: &str = r#"
[engines.cluster]
ballista = "df://127.0.0.1:50050"

[engines.default_port]
ballista = "df://scheduler.internal"
"#;

fn project_with_engines() -> TestProject {
    let project = TestProject::new();
    project.write("tidewater.toml", ENGINES_TOML);
    project
}

#[test]
fn engines_are_read_with_ballistas_default_port() {
    let project = project_with_engines().open();
    assert_eq!(
        project.config.engines.get("cluster"),
        Some(&EngineConfig::Ballista {
            url: "df://127.0.0.1:50050".to_owned()
        })
    );
    let default_port = &project.config.engines[&EngineName::new("default_port")];
    assert_eq!(default_port.address(), "scheduler.internal:50050");
}

#[test]
fn a_bad_engine_url_or_key_is_reported_at_its_line() {
    let project = TestProject::new();
    project.write(
        "tidewater.toml",
        "[engines.a]\nballista = \"http://x:1\"\n[engines.b]\nballista = \"df://x:1/path\"\n[engines.c]\nbalista = \"df://x\"\n",
    );
    let problems = Project::open(&project.root).expect_err("three problems");
    let rendered = project.redact(&problems.render(false));
    assert!(
        rendered.contains("tidewater.toml:2:12") && rendered.contains("the scheme is `http`"),
        "{rendered}"
    );
    assert!(
        rendered.contains("tidewater.toml:4:12") && rendered.contains("has a path"),
        "{rendered}"
    );
    assert!(
        rendered.contains("tidewater.toml:6:1") && rendered.contains("did you mean `ballista`"),
        "{rendered}"
    );
}

fn parse(project: &TestProject, source: &str) -> Result<Vec<(String, TaskAction)>, String> {
    let path = Path::new("workflows").join("flow.yaml");
    project
        .open()
        .parse_workflow(&path, source)
        .map(|loaded| {
            loaded
                .workflow
                .tasks()
                .iter()
                .map(|task| (task.name.to_string(), task.action.clone()))
                .collect()
        })
        .map_err(|problems| project.redact(&problems.render(false)))
}

fn engine_of(action: &TaskAction) -> Option<&str> {
    match action {
        TaskAction::Sql(sql) => sql.engine.as_ref().map(EngineName::as_str),
        _ => None,
    }
}

#[test]
fn a_sql_task_takes_its_engine_or_the_workflows_default() {
    let project = project_with_engines();
    let tasks = parse(
        &project,
        r#"defaults:
  engine: cluster
tasks:
  inherits:
    sql: SELECT 1 AS x
  own:
    sql: SELECT 2 AS x
    engine: default_port
  shell:
    sh: echo hi
"#,
    )
    .expect("valid");
    let engines: Vec<_> = tasks
        .iter()
        .map(|(name, action)| (name.as_str(), engine_of(action)))
        .collect();
    assert_eq!(
        engines,
        [
            ("inherits", Some("cluster")),
            ("own", Some("default_port")),
            ("shell", None)
        ]
    );
}

#[test]
fn without_engine_a_sql_task_runs_embedded() {
    let project = project_with_engines();
    let tasks = parse(&project, "tasks:\n  q:\n    sql: SELECT 1 AS x\n").expect("valid");
    assert_eq!(engine_of(&tasks[0].1), None);
}

#[test]
fn an_unknown_engine_is_an_error_at_its_file_and_line() {
    let project = project_with_engines();
    let rendered = parse(
        &project,
        "tasks:\n  q:\n    sql: SELECT 1 AS x\n    engine: clustr\n",
    )
    .expect_err("unknown engine");
    assert!(
        rendered.contains("tidewater::unknown_engine")
            && rendered.contains("workflows/flow.yaml:4:13")
            && rendered.contains("did you mean `cluster`?"),
        "{rendered}"
    );

    let rendered = parse(
        &project,
        "defaults:\n  engine: nowhere\ntasks:\n  q:\n    sql: SELECT 1 AS x\n",
    )
    .expect_err("unknown default engine");
    assert!(
        rendered.contains("workflows/flow.yaml:2:11")
            && rendered.contains("[engines.nowhere] ballista"),
        "{rendered}"
    );
}

#[test]
fn an_engine_on_a_task_that_is_not_sql_is_an_error() {
    let project = project_with_engines();
    let rendered = parse(
        &project,
        "tasks:\n  s:\n    sh: echo hi\n    engine: cluster\n",
    )
    .expect_err("not a sql task");
    assert!(
        rendered.contains("tidewater::engine_on_non_sql_task")
            && rendered.contains("workflows/flow.yaml:4:13"),
        "{rendered}"
    );
}
