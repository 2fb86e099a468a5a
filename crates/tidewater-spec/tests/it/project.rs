use std::path::PathBuf;

use tidewater_spec::{DEFAULT_BACKFILL_MAX_INTERVALS, PoolConfig, Project};

use crate::support::TestProject;

#[test]
fn opening_a_folder_without_tidewater_toml_suggests_init() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let problems = Project::open(folder.path()).expect_err("no project file");
    let rendered = problems
        .render(false)
        .replace(&folder.path().display().to_string(), "[folder]");
    insta::assert_snapshot!(rendered);
}

#[test]
fn project_config_problems_point_at_their_line_in_tidewater_toml() {
    let project = TestProject::new();
    project.write(
        "tidewater.toml",
        "paralelism = 4\n\n[pools.api]\nslots = 0\n\n[store]\npath = 3\n",
    );
    let problems = Project::open(&project.root).expect_err("bad config");
    insta::assert_snapshot!(project.redact(&problems.render(false)));
}

#[test]
fn a_toml_syntax_error_points_at_its_line() {
    let project = TestProject::new();
    project.write("tidewater.toml", "parallelism = 4\n[pools.api\nslots = 1\n");
    let problems = Project::open(&project.root).expect_err("bad toml");
    insta::assert_snapshot!(project.redact(&problems.render(false)));
}

#[test]
fn the_project_config_gives_pools_parallelism_and_an_absolute_state_dir() {
    let project = TestProject::new();
    let opened = project.open();
    assert_eq!(opened.config.parallelism, Some(8));
    assert_eq!(
        opened.config.pools.get("source_api"),
        Some(&PoolConfig {
            slots: 2,
            rate: None
        })
    );
    assert_eq!(opened.config.state_dir, project.root.join(".tidewater"));
    assert!(opened.config.state_dir.is_absolute());
}

#[test]
fn a_relative_store_path_is_resolved_against_the_root() {
    let project = TestProject::new();
    project.write("tidewater.toml", "[store]\npath = \"var/state\"\n");
    assert_eq!(
        project.open().config.state_dir,
        project.root.join("var/state")
    );
}

#[test]
fn the_backfill_cap_is_read_from_tidewater_toml_and_checked() {
    let project = TestProject::new();
    project.write("tidewater.toml", "parallelism = 2\n");
    assert_eq!(
        project.open().config.backfill_max_intervals,
        DEFAULT_BACKFILL_MAX_INTERVALS
    );
    project.write("tidewater.toml", "[backfill]\nmax_intervals = 500\n");
    assert_eq!(project.open().config.backfill_max_intervals, 500);
    project.write(
        "tidewater.toml",
        "[backfill]\nmax_intervals = 0\nmax_runs = 3\n",
    );
    let problems = Project::open(&project.root)
        .expect_err("a cap of 0 and an unknown key")
        .render(false);
    assert!(
        problems.contains("`backfill.max_intervals` must be at least 1, found 0"),
        "{problems}"
    );
    assert!(
        problems.contains("unknown key `max_runs` in `[backfill]`"),
        "{problems}"
    );
}

#[test]
fn workflow_paths_lists_yaml_and_yml_files_sorted() {
    let project = TestProject::new();
    for name in ["b.yml", "a.yaml", "notes.txt", "c.yaml"] {
        project.write(
            &format!("workflows/{name}"),
            "tasks: { a: { empty: {} } }\n",
        );
    }
    std::fs::create_dir_all(project.root.join("workflows/folder.yaml")).expect("folder");
    let names: Vec<PathBuf> = project
        .open()
        .workflow_paths()
        .expect("readable")
        .into_iter()
        .map(|path| {
            path.strip_prefix(&project.root)
                .expect("inside")
                .to_path_buf()
        })
        .collect();
    assert_eq!(
        names,
        ["workflows/a.yaml", "workflows/b.yml", "workflows/c.yaml"].map(PathBuf::from)
    );
}

#[test]
fn a_project_without_a_workflows_folder_has_no_workflows() {
    let project = TestProject::new();
    std::fs::remove_dir(project.root.join("workflows")).expect("remove empty folder");
    let (loaded, problems) = project.open().load_workflows();
    assert!(loaded.is_empty());
    assert!(problems.is_empty());
}

#[test]
fn load_workflows_returns_the_good_ones_and_every_problem_of_the_bad_ones() {
    let project = TestProject::new();
    project.write("workflows/good.yaml", "tasks: { a: { empty: {} } }\n");
    project.write(
        "workflows/bad.yaml",
        "tasks:\n  a: { needs: nope, empty: {} }\n  b:\n    sh: echo {{ dss }}\n",
    );
    project.write("workflows/worse.yml", "tasks: [\n");
    let (loaded, problems) = project.open().load_workflows();
    let names: Vec<&str> = loaded
        .iter()
        .map(|workflow| workflow.workflow.name.as_str())
        .collect();
    assert_eq!(names, ["good"]);
    let codes: Vec<&str> = problems
        .iter()
        .map(|problem| problem.kind().code())
        .collect();
    assert_eq!(
        codes,
        [
            "tidewater::unknown_dependency",
            "tidewater::unknown_template_variable",
            "tidewater::yaml_syntax",
        ]
    );
}

#[test]
fn two_files_with_the_same_workflow_name_are_reported() {
    let project = TestProject::new();
    project.write(
        "workflows/a.yaml",
        "name: sales\ntasks: { a: { empty: {} } }\n",
    );
    project.write(
        "workflows/b.yaml",
        "name: sales\ntasks: { b: { empty: {} } }\n",
    );
    let (loaded, problems) = project.open().load_workflows();
    assert_eq!(loaded.len(), 1, "the first file is kept");
    assert!(loaded[0].path.ends_with("workflows/a.yaml"));
    insta::assert_snapshot!(project.redact(&problems.render(false)));
}

#[test]
fn waiting_for_a_workflow_the_project_does_not_have_is_reported_at_its_name() {
    let project = TestProject::new();
    project.write(
        "workflows/daily_orders.yaml",
        "tasks: { a: { empty: {} } }\n",
    );
    // A file with problems still names a workflow that can be waited for.
    project.write("workflows/broken.yaml", "tasks: { a: { sh: 1 } }\n");
    project.write(
        "workflows/report.yaml",
        "tasks:\n  orders:\n    wait: { workflow: daily_ordres }\n  broken:\n    wait: { workflow: broken }\n  far:\n    wait: { workflow: weekly }\n",
    );
    project.write(
        "workflows/mart.yaml",
        "tasks:\n  orders:\n    wait: { workflow: daily_orders }\n",
    );
    let opened = project.open();
    let (loaded, problems) = opened.load_workflows();
    let names: Vec<&str> = loaded
        .iter()
        .map(|workflow| workflow.workflow.name.as_str())
        .collect();
    assert_eq!(names, ["daily_orders", "mart"]);
    insta::assert_snapshot!(project.redact(&problems.render(false)));

    let alone = opened
        .load_workflow("report")
        .expect_err("checked alone too");
    assert_eq!(
        alone
            .iter()
            .map(|problem| problem.kind().code())
            .collect::<Vec<_>>(),
        [
            "tidewater::unknown_wait_workflow",
            "tidewater::unknown_wait_workflow"
        ]
    );
    assert!(opened.load_workflow("mart").is_ok());
}

#[test]
fn load_workflow_finds_a_workflow_by_its_name_key_or_its_file_stem() {
    let project = TestProject::new();
    project.write("workflows/file_stem.yaml", "tasks: { a: { empty: {} } }\n");
    project.write(
        "workflows/other_file.yaml",
        "name: named\ntasks: { a: { empty: {} } }\n",
    );
    let opened = project.open();
    let by_stem = opened.load_workflow("file_stem").expect("found by stem");
    assert_eq!(by_stem.workflow.name.as_str(), "file_stem");
    let by_name = opened.load_workflow("named").expect("found by name");
    assert!(by_name.path.ends_with("workflows/other_file.yaml"));
}

#[test]
fn load_workflow_returns_the_problems_of_a_broken_workflow() {
    let project = TestProject::new();
    project.write("workflows/broken.yaml", "tasks: { a: { sh: 1 } }\n");
    let problems = project.open().load_workflow("broken").expect_err("broken");
    assert_eq!(
        problems
            .iter()
            .map(|problem| problem.kind().code())
            .collect::<Vec<_>>(),
        ["tidewater::wrong_type"]
    );
}

#[test]
fn an_unknown_workflow_name_lists_the_known_ones() {
    let project = TestProject::new();
    project.write(
        "workflows/daily_sales.yaml",
        "tasks: { a: { empty: {} } }\n",
    );
    project.write(
        "workflows/hourly_clicks.yaml",
        "tasks: { a: { empty: {} } }\n",
    );
    let opened = project.open();
    let close = opened.load_workflow("daily_sale").expect_err("unknown");
    let far = opened.load_workflow("weekly").expect_err("unknown");
    insta::assert_snapshot!(format!("{}{}", close.render(false), far.render(false)));
}

#[test]
fn diagnostics_display_is_the_uncolored_rendering() {
    let project = TestProject::new();
    project.write("workflows/broken.yaml", "tasks: { a: { sh: 1 } }\n");
    let problems = project.open().load_workflow("broken").expect_err("broken");
    assert_eq!(problems.to_string(), problems.render(false));
    assert!(!problems.render(false).contains('\u{1b}'));
    assert!(problems.render(true).contains('\u{1b}'));
}

#[test]
fn problems_know_their_file_line_and_column() {
    let project = TestProject::new();
    let path = project.write(
        "workflows/broken.yaml",
        "tasks:\n  a:\n    empty: {}\n    retries: many\n",
    );
    let problems = project.open().load_workflow("broken").expect_err("broken");
    let problem = problems.iter().next().expect("one problem");
    assert_eq!(problem.path(), Some(path.as_path()));
    assert_eq!(problem.line_column(), Some((4, 14)));
}

#[test]
fn load_workflow_agrees_with_loading_every_file_whatever_the_files_look_like() {
    let project = TestProject::new();
    let files = [
        ("a_plain.yaml", "tasks: { a: { empty: {} } }\n"),
        (
            "b_named.yaml",
            "name: \"renamed\"  # a comment\ntasks: { a: { empty: {} } }\n",
        ),
        // Flow style at the top: the quick look cannot tell, the parser can.
        ("c_flow.yaml", "{name: flowing, tasks: {a: {empty: {}}}}\n"),
        (
            "d_marker.yaml",
            "---\nname: marked\ntasks: { a: { empty: {} } }\n",
        ),
        // The same name as b_named: the first file by path wins, as with load_workflows.
        (
            "e_duplicate.yaml",
            "name: renamed\ntasks: { b: { empty: {} } }\n",
        ),
        (
            "f_waits.yaml",
            "tasks:\n  w:\n    wait: { workflow: flowing }\n",
        ),
        ("g_broken.yaml", "name: broken\ntasks: { a: { sh: 1 } }\n"),
    ];
    for (file, text) in files {
        project.write(&format!("workflows/{file}"), text);
    }
    let opened = project.open();
    let (all, _) = opened.load_workflows();
    for name in ["a_plain", "renamed", "flowing", "marked", "f_waits"] {
        let alone = opened
            .load_workflow(name)
            .unwrap_or_else(|problems| panic!("{name}: {}", problems.render(false)));
        let among_all = all
            .iter()
            .find(|loaded| loaded.workflow.name.as_str() == name)
            .expect("loaded with the others");
        assert_eq!(alone.path, among_all.path, "{name}");
        assert_eq!(alone.hash, among_all.hash, "{name}");
    }
    assert!(opened.load_workflow("broken").is_err());
    let unknown = opened.load_workflow("flowin").expect_err("unknown");
    assert!(
        unknown.render(false).contains("flowing"),
        "the suggestion knows the names only parsing finds: {}",
        unknown.render(false)
    );
}

#[test]
fn a_data_aware_schedule_on_an_unknown_workflow_or_table_suggests_the_known_one() {
    let project = TestProject::new();
    project.write(
        "workflows/daily_orders.yaml",
        "tasks:\n  load:\n    sql: SELECT 1 AS id\n    into: { table: raw.orders, partition: { dt: \"{{ ds }}\" } }\n",
    );
    project.write(
        "workflows/report.yaml",
        "schedule:\n  on:\n    - workflow: daily_ordres\n    - table: raw.order\n    - table: mart.revenue\ntasks:\n  a: { empty: {} }\n",
    );
    let opened = project.open();
    let (loaded, problems) = opened.load_workflows();
    assert_eq!(loaded.len(), 1, "report waits for an unknown workflow");
    insta::assert_snapshot!(project.redact(&problems.render(false)));

    // The tables are checked against what the project writes and what the warehouse has.
    project.write(
        "workflows/report.yaml",
        "schedule:\n  on:\n    - table: raw.order\n    - table: mart.revenue\ntasks:\n  a: { empty: {} }\n",
    );
    let (loaded, problems) = opened.load_workflows();
    assert!(problems.is_empty(), "{problems}");
    let in_warehouse: Vec<tidewater_core::TableName> =
        vec!["mart.revenue".parse().expect("a table name")];
    let unknown = tidewater_spec::Project::check_trigger_tables(&loaded, &in_warehouse);
    insta::assert_snapshot!(project.redact(&unknown.render(false)));
    let report = loaded
        .iter()
        .find(|workflow| workflow.workflow.name.as_str() == "report")
        .expect("report loads");
    assert_eq!(
        report
            .workflow
            .data_triggers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["a commit to raw.order", "a commit to mart.revenue"]
    );
}
