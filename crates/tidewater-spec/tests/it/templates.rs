//! Templates are checked at load time with the same environment that renders them.

use crate::support::{codes_of, problems_of};

#[test]
fn a_handler_may_read_any_step_output() {
    let source = "tasks:\n  a: { sh: echo a }\non_success:\n  sh: echo {{ tasks.a.output }}\n";
    assert!(codes_of("handler_outputs", source).is_empty());
}

#[test]
fn an_output_read_through_a_chain_of_needs_is_upstream() {
    let source = "tasks:\n  a: { sh: echo a }\n  b: { needs: a, empty: {} }\n  c: { needs: b, sh: 'echo {{ tasks.a.output.rows }}' }\n";
    assert!(codes_of("chain", source).is_empty());
}

#[test]
fn loop_variables_and_builtin_functions_are_not_unknown_variables() {
    let source = "tasks:\n  a: { sh: '{% for i in range(3) %}echo {{ i }} {{ loop.index }};{% endfor %}' }\n";
    assert!(codes_of("loops", source).is_empty());
}

#[test]
fn an_unknown_filter_is_found_before_any_run() {
    let rendered = problems_of("filters", "tasks:\n  a: { sh: 'echo {{ ds | upperr }}' }\n");
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_template_that_loops_forever_does_not_hang_validation() {
    let source = "tasks:\n  a: { sh: '{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}' }\n";
    assert!(codes_of("busy", source).is_empty());
}

#[test]
fn a_filter_given_a_wrong_argument_or_a_missing_param_item_fails_validation() {
    let source = "params: { region: kr }\ntasks:\n  a:\n    sh: echo {{ ds | add_days(\"x\") }}\n  b:\n    sh: echo {{ params['zone'] }}\n";
    assert_eq!(
        codes_of("arguments", source),
        ["tidewater::template_fails", "tidewater::template_fails"]
    );
}

#[test]
fn a_task_named_by_a_number_can_be_needed_by_that_number() {
    let source = "tasks:\n  2024: { empty: {} }\n  b: { needs: [2024, 2024], empty: {} }\n";
    assert!(codes_of("numbers", source).is_empty());
}

#[test]
fn crlf_line_endings_keep_spans_right() {
    let rendered = problems_of("crlf", "tasks:\r\n  a:\r\n    sh: echo {{ dss }}\r\n");
    assert!(rendered.contains("crlf.yaml:3:17"), "{rendered}");
}
