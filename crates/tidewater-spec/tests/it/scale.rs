//! A workflow with 10,000 tasks loads in linear time. Times are printed, never asserted,
//! with their ratio to a floor measured in the same run: the bare YAML event parse of the
//! same text (`cargo test -p tidewater-spec --release --test it scale -- --nocapture`).

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use tidewater_core::TaskIndex;

use crate::support::TestProject;

/// One root, `count` tasks that each need it, and one join that needs them all.
fn fan_out_fan_in(count: usize) -> String {
    let mut source = String::from("name: wide\ntasks:\n  root:\n    empty: {}\n");
    for index in 0..count {
        let _ = write!(
            source,
            "  task_{index}:\n    needs: [root]\n    empty: {{}}\n"
        );
    }
    source.push_str("  join:\n    needs:\n");
    for index in 0..count {
        let _ = writeln!(source, "      - task_{index}");
    }
    source.push_str("    empty: {}\n");
    source
}

/// How long saphyr's parser takes just to produce the events of `source`.
fn bare_yaml_parse(source: &str) -> Duration {
    let started = Instant::now();
    let mut parser = saphyr_parser::Parser::new_from_str(source);
    let mut events = 0usize;
    while let Some(Ok(_)) = parser.next_event() {
        events += 1;
    }
    assert!(events > 0);
    started.elapsed()
}

#[test]
fn ten_thousand_tasks_fan_out_and_back_in() {
    let folder = TestProject::new();
    let project = folder.open();
    let source = fan_out_fan_in(10_000);
    let floor = bare_yaml_parse(&source);
    let started = Instant::now();
    let loaded = project
        .parse_workflow(Path::new("workflows/wide.yaml"), &source)
        .unwrap_or_else(|problems| panic!("{problems}"));
    let elapsed = started.elapsed();
    println!(
        "validated 10,002 tasks ({} bytes) in {elapsed:?}: {:.1}x the bare YAML parse ({floor:?})",
        source.len(),
        elapsed.as_secs_f64() / floor.as_secs_f64(),
    );
    let workflow = &loaded.workflow;
    assert_eq!(workflow.tasks().len(), 10_002);
    assert_eq!(workflow.dag().upstream(TaskIndex(10_001)).len(), 10_000);
    assert_eq!(workflow.dag().downstream(TaskIndex(0)).len(), 10_000);
}

#[test]
fn ten_thousand_tasks_with_one_mistake_report_just_that_mistake() {
    let folder = TestProject::new();
    let project = folder.open();
    let source = fan_out_fan_in(10_000).replace("      - task_9999\n", "      - task_99999\n");
    let started = Instant::now();
    let problems = project
        .parse_workflow(Path::new("workflows/wide.yaml"), &source)
        .expect_err("one unknown need");
    println!(
        "found the mistake among 10,002 tasks in {:?}",
        started.elapsed()
    );
    let codes: Vec<&str> = problems
        .iter()
        .map(|problem| problem.kind().code())
        .collect();
    assert_eq!(codes, ["tidewater::unknown_dependency"]);
}
