//! View files (`views/*.yaml`): what a valid one becomes, and every problem at its line.

use std::time::Duration;

use tidewater_core::TableName;
use tidewater_spec::{KnownTable, Project};

use crate::support::TestProject;

fn table(name: &str) -> TableName {
    name.parse().expect("a table name")
}

/// `(file name, line, column, code)` of every problem.
fn places(problems: &tidewater_spec::Diagnostics) -> Vec<(String, usize, usize, String)> {
    problems
        .iter()
        .map(|problem| {
            let (line, column) = problem.line_column().unwrap_or((0, 0));
            let file = problem
                .path()
                .and_then(|path| path.file_name())
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let code = miette::Diagnostic::code(problem)
                .map(|code| code.to_string())
                .unwrap_or_default();
            (file, line, column, code)
        })
        .collect()
}

#[test]
fn a_view_file_becomes_a_serving_view_named_by_its_stem_unless_it_says() {
    let project = TestProject::new();
    project.write(
        "views/orders.yaml",
        "batch: mart.orders\nstream: stream.orders\nby: dt\nretention: 7d\n",
    );
    project.write(
        "views/b.yml",
        "name: clicks\nbatch: mart.clicks\nstream: stream.clicks\nby: hour\n",
    );
    let (views, problems) = project.open().load_views();
    assert!(problems.is_empty(), "{problems}");
    let views: Vec<_> = views.into_iter().map(|loaded| loaded.view).collect();
    assert_eq!(views.len(), 2);
    assert_eq!(views[0].name, table("serving.clicks"));
    assert_eq!(views[0].by, "hour");
    assert_eq!(views[0].retention, None);
    assert_eq!(views[1].name, table("serving.orders"));
    assert_eq!(views[1].batch, table("mart.orders"));
    assert_eq!(views[1].stream, table("stream.orders"));
    assert_eq!(views[1].retention, Some(Duration::from_secs(7 * 86_400)));
}

#[test]
fn every_problem_of_a_view_file_is_reported_at_its_line() {
    let project = TestProject::new();
    project.write(
        "views/bad.yaml",
        "name: Orders\nbatch: mart\nstream: stream.orders\nby: \"dt; drop\"\nretention: soon\nextra: 1\n",
    );
    project.write("views/same.yaml", "batch: mart.a\nstream: mart.a\nby: dt\n");
    project.write("views/missing.yaml", "batch: mart.a\n");
    project.write("views/syntax.yaml", "batch: [mart.a\n");
    let (views, problems) = project.open().load_views();
    assert!(views.is_empty());
    let mut found = places(&problems);
    found.sort();
    let expected: Vec<(String, usize, usize, String)> = [
        ("bad.yaml", 1, 7, "tidewater::invalid_table_name"),
        ("bad.yaml", 2, 8, "tidewater::invalid_table_name"),
        ("bad.yaml", 4, 5, "tidewater::invalid_value"),
        ("bad.yaml", 5, 12, "tidewater::invalid_duration"),
        ("bad.yaml", 6, 1, "tidewater::unknown_key"),
        ("missing.yaml", 1, 1, "tidewater::missing_key"),
        ("missing.yaml", 1, 1, "tidewater::missing_key"),
        ("same.yaml", 2, 9, "tidewater::invalid_value"),
        ("syntax.yaml", 2, 1, "tidewater::yaml_syntax"),
    ]
    .into_iter()
    .map(|(file, line, column, code)| (file.to_owned(), line, column, code.to_owned()))
    .collect();
    assert_eq!(found, expected, "{problems}");
}

#[test]
fn checks_against_the_warehouse_find_unknown_tables_bad_columns_and_clashing_names() {
    let project = TestProject::new();
    project.write(
        "views/orders.yaml",
        "batch: mart.ordrs\nstream: stream.orders\nby: region\n",
    );
    project.write(
        "views/orders_clash.yaml",
        "name: taken\nbatch: mart.orders\nstream: stream.orders\nby: dt\n",
    );
    let (views, problems) = project.open().load_views();
    assert!(problems.is_empty(), "{problems}");
    let warehouse = [
        KnownTable {
            name: table("mart.orders"),
            partition_columns: vec!["dt".to_owned()],
        },
        KnownTable {
            name: table("stream.orders"),
            partition_columns: vec!["dt".to_owned()],
        },
        KnownTable {
            name: table("serving.taken"),
            partition_columns: Vec::new(),
        },
    ];
    let problems = Project::check_views(&views, &[], &warehouse);
    let rendered = problems.render(false);
    assert_eq!(
        places(&problems),
        vec![
            (
                "orders.yaml".to_owned(),
                1,
                8,
                "tidewater::unknown_view_table".to_owned()
            ),
            (
                "orders.yaml".to_owned(),
                3,
                5,
                "tidewater::invalid_value".to_owned()
            ),
            (
                "orders_clash.yaml".to_owned(),
                1,
                7,
                "tidewater::invalid_value".to_owned()
            ),
        ],
        "{rendered}"
    );
    assert!(
        rendered.contains("did you mean `mart.orders`?"),
        "{rendered}"
    );
    // Without the warehouse's tables both of the first view's tables are unknown (and its
    // `by` cannot be checked against them).
    let unknown = Project::check_views(&views[..1], &[], &[]);
    let codes: Vec<String> = places(&unknown).into_iter().map(|place| place.3).collect();
    assert_eq!(codes, vec!["tidewater::unknown_view_table"; 2]);
}
