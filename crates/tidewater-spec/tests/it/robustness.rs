//! Whatever the input, loading reports problems and never panics.

use std::path::Path;

use proptest::prelude::*;
use tidewater_spec::Project;

use crate::support::TestProject;

const WORKFLOW: &str = r#"name: daily_sales
schedule: "0 2 * * *"
timezone: Asia/Seoul
start: 2026-01-01
params: { region: kr, list: [1, 2.5, true, null, "é"] }
defaults: { retries: 3, retry_delay: 30s, retry_backoff: exponential, timeout: 1h }
tasks:
  extract:
    sh: ./scripts/extract.sh {{ ds }} {{ params.region }}
    pool: source_api
  transform:
    description: "변환 단계 — non-ASCII text must not break spans"
    needs: [extract]
    sh: |
      echo "{{ ds | add_days(-1) }}"
      echo '{% if params.region %}kr{% endif %}'
  join:
    needs: [extract, "transform"]
    trigger: all_done
    empty: {}
on_failure:
  sh: ./scripts/alert.sh "{{ workflow }} {{ ds }}"
"#;

/// Parses and renders, so that both the checks and miette's drawing see the input.
fn load(project: &Project, source: &str) {
    if let Err(problems) = project.parse_workflow(Path::new("workflows/fuzz.yaml"), source) {
        let _ = problems.render(false);
        for problem in &problems {
            let _ = problem.line_column();
        }
    }
}

#[test]
fn the_fixture_itself_is_valid() {
    let folder = TestProject::new();
    let project = folder.open();
    if let Err(problems) = project.parse_workflow(Path::new("workflows/fuzz.yaml"), WORKFLOW) {
        panic!("{problems}");
    }
}

#[test]
fn a_workflow_cut_at_any_character_never_panics() {
    let folder = TestProject::new();
    let project = folder.open();
    for (offset, _) in WORKFLOW.char_indices() {
        load(&project, &WORKFLOW[..offset]);
    }
}

#[test]
fn a_workflow_with_any_character_removed_never_panics() {
    let folder = TestProject::new();
    let project = folder.open();
    for (offset, character) in WORKFLOW.char_indices() {
        let mangled = format!(
            "{}{}",
            &WORKFLOW[..offset],
            &WORKFLOW[offset + character.len_utf8()..]
        );
        load(&project, &mangled);
    }
}

#[test]
fn yaml_that_nests_deeply_never_panics() {
    let folder = TestProject::new();
    let project = folder.open();
    load(&project, &format!("tasks: {}", "[".repeat(10_000)));
    load(&project, &format!("tasks: {}", "{a: ".repeat(2_000)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let folder = TestProject::new();
        let project = folder.open();
        load(&project, &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_edits_of_a_valid_workflow_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), "[ -~\n\t{}\\[\\]:'\"é]{0,4}"), 1..6)
    ) {
        let folder = TestProject::new();
        let project = folder.open();
        let mut source = WORKFLOW.to_owned();
        for (index, insert) in edits {
            let mut offset = index.index(source.len() + 1);
            while !source.is_char_boundary(offset) {
                offset -= 1;
            }
            let end = (offset + insert.len()).min(source.len());
            let end = (end..=source.len()).find(|&end| source.is_char_boundary(end)).unwrap_or(source.len());
            source.replace_range(offset..end, &insert);
        }
        load(&project, &source);
    }
}
