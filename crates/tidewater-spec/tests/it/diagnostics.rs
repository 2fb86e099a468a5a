//! What `tidewater validate` shows for broken workflow files: one snapshot per kind of
//! mistake, rendered without color. Each names the file, line and column, points a caret at
//! the offending key or value, and says what to do.

use crate::support::{self, codes_of, problems_of};

#[test]
fn a_yaml_syntax_error_points_where_the_parser_stopped() {
    let source = "name: broken\ntasks:\n  extract:\n    sh: [echo, hi\n  load:\n    empty: {}\n";
    insta::assert_snapshot!(problems_of("syntax", source));
}

#[test]
fn unknown_keys_at_every_level_suggest_the_closest_known_key() {
    let source = r#"schedul: "@daily"
defaults:
  retires: 3
tasks:
  extract:
    sh: echo hi
    timout: 5m
on_failure:
  sh: echo failed
  poool: source_api
"#;
    insta::assert_snapshot!(problems_of("unknown_keys", source));
}

#[test]
fn an_unknown_key_with_no_close_match_lists_the_known_ones() {
    let source = "tasks:\n  extract:\n    sh: echo hi\n    zzz: 1\n";
    insta::assert_snapshot!(problems_of("unknown_far_key", source));
}

#[test]
fn wrong_value_types_say_what_was_expected_and_what_was_found() {
    let source = r#"catchup: "yes"
max_active_runs: 0
params: [region, kr]
tasks:
  extract:
    sh: echo hi
    retries: three
    priority: 1.5
    needs: { extract: true }
    retry_jitter: 1
  load:
    sh: 42
"#;
    insta::assert_snapshot!(problems_of("types", source));
}

#[test]
fn a_task_defined_twice_shows_both_places() {
    let source = "tasks:\n  extract:\n    sh: echo one\n  load:\n    empty: {}\n  extract:\n    sh: echo two\n";
    insta::assert_snapshot!(problems_of("duplicate_task", source));
}

#[test]
fn a_key_given_twice_inside_a_task_or_params_is_reported() {
    let source = "params:\n  region: kr\n  nested: { a: 1, a: 2 }\ntasks:\n  extract:\n    sh: echo one\n    retries: 1\n    retries: 2\n";
    insta::assert_snapshot!(problems_of("duplicate_key", source));
}

#[test]
fn an_unknown_dependency_suggests_the_task_that_was_meant() {
    let source =
        "tasks:\n  extract:\n    sh: echo hi\n  load:\n    needs: [extrct, clean]\n    empty: {}\n";
    insta::assert_snapshot!(problems_of("unknown_needs", source));
}

#[test]
fn a_dependency_cycle_is_printed_in_order_and_points_at_a_need() {
    let source = r#"tasks:
  start:
    empty: {}
  a:
    needs: [start, c]
    empty: {}
  b:
    needs: [a]
    empty: {}
  c:
    needs: [b]
    empty: {}
"#;
    insta::assert_snapshot!(problems_of("cycle", source));
}

#[test]
fn a_task_that_needs_itself_is_a_cycle() {
    assert_eq!(
        codes_of("self_cycle", "tasks:\n  a: { needs: a, empty: {} }\n"),
        ["tidewater::dependency_cycle"]
    );
}

#[test]
fn every_separate_cycle_is_reported() {
    let source = "tasks:\n  a: { needs: b, empty: {} }\n  b: { needs: a, empty: {} }\n  c: { needs: d, empty: {} }\n  d: { needs: c, empty: {} }\n";
    assert_eq!(
        codes_of("two_cycles", source),
        ["tidewater::dependency_cycle", "tidewater::dependency_cycle"]
    );
}

#[test]
fn a_bad_cron_expression_gives_the_reason() {
    let source = "schedule: \"61 * * * *\"\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("bad_cron", source));
}

#[test]
fn a_cron_with_the_wrong_number_of_fields_says_how_many_it_needs() {
    let source = "schedule: \"0 2 * *\"\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("short_cron", source));
}

#[test]
fn a_schedule_that_never_fires_is_refused() {
    let source = "schedule: \"0 0 31 2 *\"\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("never_fires", source));
}

#[test]
fn an_unknown_time_zone_suggests_a_real_one() {
    let source = "timezone: Asia/Seol\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("timezone", source));
}

#[test]
fn bad_durations_say_why() {
    let source = r#"defaults:
  retry_delay: 30
tasks:
  a:
    empty: {}
    timeout: 5 parsecs
    retry_max_delay: soon
  b:
    empty: {}
    timeout: 0s
  c:
    empty: {}
    timeout: 1000000000d
"#;
    insta::assert_snapshot!(problems_of("durations", source));
}

#[test]
fn a_bad_run_timeout_and_deadlines_say_why() {
    let source = r#"timeout: 0s
deadline: "25:00"
tasks:
  a: { empty: {} }
"#;
    insta::assert_snapshot!(problems_of("run_timers", source));
    let not_a_duration = "deadline: soon
tasks:
  a: { empty: {} }
";
    let no_unit = "deadline: 3
timeout: 2
tasks:
  a: { empty: {} }
";
    insta::assert_snapshot!(format!(
        "{}{}",
        problems_of("not_a_duration", not_a_duration),
        problems_of("no_unit", no_unit)
    ));
}

#[test]
fn a_deadline_beyond_a_hundred_years_is_too_long_like_any_duration() {
    let source = "deadline: 1000000000d\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("far_deadline", source));
}

#[test]
fn on_deadline_miss_without_a_deadline_is_refused() {
    let source = "tasks:\n  a: { empty: {} }\non_deadline_miss:\n  sh: echo late\n";
    insta::assert_snapshot!(problems_of("no_deadline", source));
}

#[test]
fn a_wait_names_exactly_one_condition_and_a_valid_other_workflow() {
    let source = r#"name: orders
tasks:
  both:
    wait: { path: flags/ready, workflow: clicks }
  none:
    wait: { poke_interval: 1m }
  bad_name:
    wait: { workflow: Daily Clicks }
  itself:
    wait: { workflow: orders }
"#;
    insta::assert_snapshot!(problems_of("orders", source));
}

#[test]
fn a_call_names_a_valid_workflow_and_a_map_of_params() {
    let source = r#"name: orders
tasks:
  nothing:
    call: { params: { region: kr } }
  bad_name:
    call: { workflow: Daily Clicks }
  itself:
    call: { workflow: orders }
  list_params:
    call: { workflow: clicks, params: [region, kr], interval: 1d }
  bad_template:
    call: { workflow: clicks, params: { day: "{{ dss }}" } }
"#;
    insta::assert_snapshot!(problems_of("calls", source));
}

#[test]
fn a_call_to_an_unknown_workflow_or_around_a_cycle_is_reported_at_the_call() {
    let project = support::TestProject::new();
    project.write(
        "workflows/a.yaml",
        "tasks:\n  to_b:\n    call: { workflow: b }\n",
    );
    project.write(
        "workflows/b.yaml",
        "tasks:\n  to_c:\n    call: { workflow: c, params: { day: \"{{ ds }}\" } }\n",
    );
    project.write(
        "workflows/c.yaml",
        "tasks:\n  back:\n    call: { workflow: a }\n  typo:\n    call: { workflow: bb }\n",
    );
    // Not on the cycle: it calls into it, and loads.
    project.write(
        "workflows/d.yaml",
        "tasks:\n  to_a:\n    call: { workflow: a }\n",
    );
    let (loaded, problems) = project.open().load_workflows();
    let names: Vec<String> = loaded
        .iter()
        .map(|loaded| loaded.workflow.name.to_string())
        .collect();
    assert_eq!(names, ["d"]);
    insta::assert_snapshot!(project.redact(&problems.render(false)));
}

#[test]
fn a_bad_start_date_says_the_expected_format() {
    let source = "start: 2026-13-01\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("bad_date", source));
}

#[test]
fn an_unknown_pool_and_a_request_beyond_a_pool_are_reported() {
    let source = r#"defaults:
  pool: warehouse
tasks:
  extract:
    sh: echo hi
    pool: source_apii
  load:
    empty: {}
    pool_slots: 5
"#;
    insta::assert_snapshot!(problems_of("pools", source));
}

#[test]
fn unknown_trigger_and_backoff_names_suggest_the_right_one() {
    let source =
        "tasks:\n  a:\n    empty: {}\n    trigger: all_sucess\n    retry_backoff: linear\n";
    insta::assert_snapshot!(problems_of("choices", source));
}

#[test]
fn a_template_syntax_error_points_into_a_multi_line_command() {
    let source = r#"tasks:
  report:
    sh: |
      echo "start {{ ds }}"
      echo "broken {{ ds | }}"
      echo "end"
"#;
    insta::assert_snapshot!(problems_of("template_syntax", source));
}

#[test]
fn an_unclosed_template_tag_is_reported_at_its_scalar() {
    let source = "tasks:\n  report:\n    sh: \"echo {{ ds\"\n";
    insta::assert_snapshot!(problems_of("template_unclosed", source));
}

#[test]
fn undefined_template_variables_are_reported_with_suggestions() {
    let source = r#"params: { region: kr }
tasks:
  extract:
    sh: echo dss {{ dss }} {{ params.regoin }} {{ conn.alerts.url }}
  load:
    needs: [extract]
    sh: echo {{ tasks.extract.output }} {{ tasks.report.output }} {{ tasks.extrct.output }}
  report:
    needs: [load]
    sh: echo {{ tasks.load.result }}
"#;
    insta::assert_snapshot!(problems_of("template_variables", source));
}

#[test]
fn a_task_needs_exactly_one_kind() {
    let source = r#"tasks:
  nothing:
    retries: 1
  null_body:
  both:
    sh: echo hi
    empty: {}
  wrong_empty:
    empty: yes please
"#;
    insta::assert_snapshot!(problems_of("kinds", source));
}

#[test]
fn a_missing_script_is_reported_at_its_path() {
    let source = r#"tasks:
  extract:
    sh: ./scripts/extract.sh {{ ds }}
  transform:
    sh: ./scripts/transform.sh {{ ds }}
  templated:
    sh: ./scripts/{{ params.name }}.sh
  on_path:
    sh: transform.sh
params: { name: x }
"#;
    insta::assert_snapshot!(problems_of("missing_file", source));
}

#[test]
fn task_names_must_be_identifiers_and_handlers_are_reserved() {
    let source = r#"tasks:
  "load raw":
    empty: {}
  on_failure:
    empty: {}
on_success:
  needs: ["load raw"]
  trigger: all_done
  sh: echo done
"#;
    insta::assert_snapshot!(problems_of("names", source));
}

#[test]
fn an_invalid_workflow_name_is_reported_at_the_name() {
    let source = "name: Daily Sales\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("invalid_name", source));
}

#[test]
fn a_file_name_that_is_not_a_workflow_name_asks_for_a_name_key() {
    insta::assert_snapshot!(problems_of("Daily Sales", "tasks:\n  a: { empty: {} }\n"));
}

#[test]
fn an_empty_file_asks_for_tasks() {
    insta::assert_snapshot!(problems_of("empty", "# nothing yet\n"));
}

#[test]
fn a_workflow_that_is_not_a_map_is_reported() {
    insta::assert_snapshot!(problems_of("list", "- a\n- b\n"));
}

#[test]
fn a_workflow_without_tasks_is_reported() {
    assert_eq!(codes_of("no_tasks", "tasks: {}\n"), ["tidewater::no_tasks"]);
    assert_eq!(
        codes_of("no_tasks_key", "name: no_tasks_key\n"),
        ["tidewater::missing_key"]
    );
}

#[test]
fn several_documents_in_one_file_are_refused() {
    let source = "tasks:\n  a: { empty: {} }\n---\ntasks:\n  b: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("documents", source));
}

#[test]
fn every_problem_of_a_file_is_reported_in_file_order() {
    let source = r#"schedule: "@dailyy"
timezone: Mars/Olympus
tasks:
  extract:
    sh: echo {{ dss }}
    retries: -1
  load:
    needs: [extract, missing]
    empty: {}
    pool: nowhere
"#;
    assert_eq!(
        codes_of("many", source),
        [
            "tidewater::invalid_schedule",
            "tidewater::unknown_timezone",
            "tidewater::unknown_template_variable",
            "tidewater::out_of_range",
            "tidewater::unknown_dependency",
            "tidewater::unknown_pool",
        ]
    );
}

/// Regression: a table name `run` refuses (uppercase, here) passed `validate` and failed only
/// when the task ran; the core's one rule now reads it at the value.
#[test]
fn a_table_name_a_run_would_refuse_is_refused_at_its_value() {
    let source = r#"tasks:
  load:
    sql: SELECT 1 AS id
    into: { table: Raw.Orders }
  check:
    wait: { table: raw.Orders, partition: { dt: "{{ ds }}" } }
  tidy:
    maintain: { table: raw.orders.v2, compact: true }
"#;
    insta::assert_snapshot!(problems_of("table_names", source));
}

/// Regression: a 10,000-character workflow name was accepted.
#[test]
fn a_workflow_name_longer_than_250_characters_is_refused() {
    let long = "w".repeat(10_000);
    let source = format!("name: {long}\ntasks:\n  a: {{ empty: {{}} }}\n");
    let problems = match support::parse("long_name", &source) {
        Ok(_) => panic!("a 10,000-character workflow name was accepted"),
        Err(problems) => problems,
    };
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        ["the workflow name is 10000 characters long, longer than the limit of 250"]
    );
    let limit = "w".repeat(250);
    let source = format!("name: {limit}\ntasks:\n  a: {{ empty: {{}} }}\n");
    assert!(support::parse("long_name", &source).is_ok());
}

/// Regression: task names had no length limit.
#[test]
fn a_task_name_longer_than_250_characters_is_refused_at_its_key() {
    let long = "t".repeat(300);
    let source = format!("tasks:\n  {long}: {{ empty: {{}} }}\n  ok: {{ empty: {{}} }}\n");
    let problems = match support::parse("long_task", &source) {
        Ok(_) => panic!("a 300-character task name was accepted"),
        Err(problems) => problems,
    };
    let found: Vec<(&str, Option<(usize, usize)>)> = problems
        .iter()
        .map(|problem| (problem.kind().code(), problem.line_column()))
        .collect();
    assert_eq!(found, [("tidewater::name_too_long", Some((2, 3)))]);
    assert_eq!(
        problems.iter().next().map(|problem| problem.kind().help()),
        Some(Some(
            "shorten the task name to at most 250 characters; it is part of paths, logs and URLs"
                .to_owned()
        ))
    );
}

/// Regression: `sql: "SELEC 1"` passed `validate` and failed only when it ran.
#[test]
fn a_sql_syntax_error_in_a_one_line_query_points_at_the_word() {
    let source = r#"tasks:
  load:
    sql: "SELEC 1"
  other:
    sql: SELECT a FROM t WHERE a = )
"#;
    insta::assert_snapshot!(problems_of("sql_one_line", source));
}

#[test]
fn a_sql_syntax_error_in_a_block_scalar_points_at_its_line_and_column() {
    let source = r#"params: { region: kr }
tasks:
  load:
    sql: |
      SELECT id, amount
      FROM raw.orders
      WHERE dt = '{{ ds }}' AND region = '{{ params.region }}'
      GROUP BY id amount total
"#;
    insta::assert_snapshot!(problems_of("sql_block", source));
}

/// Lines that hold template expressions: an error after the last expression keeps its
/// column; one inside what an expression rendered can only name its line.
#[test]
fn a_sql_syntax_error_on_a_templated_line_points_at_the_place_or_the_line() {
    let source = r#"params: { columns: "a,,b" }
tasks:
  after_expression:
    sql: |
      SELECT 1
      WHERE dt = {{ ds }} AND
  inside_expression:
    sql: |
      SELECT {{ params.columns }}
      FROM t
"#;
    insta::assert_snapshot!(problems_of("sql_templated_line", source));
}

#[test]
fn sql_that_datafusion_accepts_is_not_reported() {
    let source = r#"params: { limit: 10 }
tasks:
  csv:
    sql: SELECT * FROM read_csv('landing/{{ ds }}/orders.csv')
  parquet:
    sql: "SELECT count(*) AS n FROM read_parquet('x.parquet') WHERE dt = '{{ ds }}'"
  block:
    needs: [csv]
    sql: |
      WITH recent AS (
        SELECT id, amount::double AS amount FROM raw.orders
        WHERE dt >= '{{ ds | add_days(-7) }}'
      )
      SELECT id, sum(amount) AS total
      FROM recent
      {% if params.limit %}
      GROUP BY id ORDER BY total DESC LIMIT {{ params.limit }};
      {% endif %}
  upstream_output:
    needs: [csv]
    sql: "SELECT '{{ tasks.csv.output }}' AS x"
"#;
    assert_eq!(codes_of("accepted_sql", source), Vec::<&str>::new());
}

/// `file:` SQL is parsed too, and its syntax error points into the `.sql` file.
#[test]
fn a_sql_syntax_error_in_a_sql_file_points_into_that_file() {
    let project = support::TestProject::new();
    project.write(
        "sql/mart.sql",
        "SELECT id,\n       sum(amount) AS total\nFROM raw.orders\nWHERE dt = '{{ ds }}'\nGROUP BY id\nORDER BY total DESCC\n",
    );
    project.write("sql/fine.sql", "SELECT 1 AS one -- {{ ds }}\n");
    let path = std::path::Path::new("workflows").join("marts.yaml");
    let source =
        "tasks:\n  mart:\n    sql: file:sql/mart.sql\n  fine:\n    sql: file:sql/fine.sql\n";
    let problems = match project.open().parse_workflow(&path, source) {
        Ok(_) => panic!("a syntax error in a .sql file was not reported"),
        Err(problems) => problems,
    };
    let problem = problems.iter().next().expect("one problem");
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problem.path(),
        Some(project.root.join("sql/mart.sql").as_path())
    );
    assert_eq!(problem.line_column(), Some((6, 16)));
    insta::assert_snapshot!(project.redact(&problems.render(false)));
}

/// Problems of the workflow file read top to bottom; those it found in a `.sql` file follow
/// them instead of being sorted among them by an offset into another file.
#[test]
fn problems_in_a_sql_file_follow_those_of_the_workflow_file() {
    let project = support::TestProject::new();
    project.write("sql/broken.sql", "\n\n\n\n\n\n\n\n\n\nSELEC 1\n");
    let path = std::path::Path::new("workflows").join("mixed.yaml");
    let source = "tasks:\n  mart:\n    sql: file:sql/broken.sql\n  late:\n    sh: 42\n";
    let problems = match project.open().parse_workflow(&path, source) {
        Ok(_) => panic!("problems were expected"),
        Err(problems) => problems,
    };
    let found: Vec<(&str, Option<(usize, usize)>)> = problems
        .iter()
        .map(|problem| (problem.kind().code(), problem.line_column()))
        .collect();
    assert_eq!(
        found,
        [
            ("tidewater::wrong_type", Some((5, 9))),
            ("tidewater::sql_syntax", Some((11, 1)))
        ]
    );
}

/// A folded scalar (`>`) joins its lines, so the query's one line is in no source line: the
/// word at the error is looked up instead.
#[test]
fn a_sql_syntax_error_in_a_folded_scalar_points_at_the_word() {
    let source = "tasks:\n  load:\n    sql: >\n      SELECT a\n      FROM t WHERE a = )\n";
    let problems = match support::parse("folded", source) {
        Ok(_) => panic!("the syntax error was not reported"),
        Err(problems) => problems,
    };
    let found: Vec<(&str, Option<(usize, usize)>)> = problems
        .iter()
        .map(|problem| (problem.kind().code(), problem.line_column()))
        .collect();
    assert_eq!(found, [("tidewater::sql_syntax", Some((5, 24)))]);
}

#[test]
fn http_task_mistakes_are_reported_at_their_place() {
    let source = r#"tasks:
  no_url:
    http: { method: POST }
  bad_method:
    http: { method: FETCH, url: "https://api.example.com/" }
  bad_statuses:
    http: { url: "https://api.example.com/", expect: [200, 7xx, "404-400"], retry_on: [] }
  bad_output:
    http: { url: "https://api.example.com/", output: data.id }
  bad_header:
    http: { url: "https://api.example.com/", headers: { "Bad Name": x, X-List: [1] } }
  unknown_variable:
    http:
      url: "https://api.example.com/{{ dss }}"
      body: { date: "{{ data_interval }}" }
  unknown_key:
    http: { url: "https://api.example.com/", timeout: 5s }
"#;
    insta::assert_snapshot!(problems_of("http", source));
}

#[test]
fn a_malformed_data_aware_schedule_is_reported_at_each_entry() {
    let source = r#"name: mart
schedule:
  cron: "@daily"
  on:
    - table: Raw.Orders
    - { table: raw.orders, workflow: extract }
    - {}
    - workflow: mart
    - tabel: raw.orders
  every: 1d
tasks:
  a: { empty: {} }
"#;
    insta::assert_snapshot!(problems_of("mart", source));
}

#[test]
fn a_schedule_map_needs_a_cron_or_sources() {
    let source = "schedule: {}\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("empty_schedule", source));
    let source = "schedule: { on: [] }\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("no_sources", source));
    let source = "schedule: { on: raw.orders }\ntasks:\n  a: { empty: {} }\n";
    insta::assert_snapshot!(problems_of("on_not_a_list", source));
}

#[test]
fn unknown_connections_and_fields_suggest_what_was_meant() {
    let source = r#"tasks:
  load:
    sh: psql "{{ conn.warehose.url }}"
    env:
      PGPASSWORD: "{{ conn.warehouse.pasword }}"
      REGION: "{{ conn.warehouse.extra.regoin }}"
  fine:
    sh: echo "{{ conn.warehouse.url }} {{ conn.warehouse.extra.region }}"
    env: { PGPASSWORD: "{{ conn.warehouse.password }}" }
"#;
    insta::assert_snapshot!(problems_of("connections", source));
    let bad_name = "tasks:\n  load:\n    sh: echo\n    env: { 1BAD: x }\n";
    assert_eq!(codes_of("env", bad_name), ["tidewater::invalid_value"]);
}

#[test]
fn webhook_handler_mistakes_are_reported_at_their_place() {
    let source = r#"tasks:
  extract:
    sh: echo hi
on_failure:
  webhook: { body: { text: "failed" } }
on_success:
  webhook: { url: "hooks.example.com/ok" }
on_retry:
  sh: echo "{{ retried_task"
  retries: 2
"#;
    insta::assert_snapshot!(problems_of("webhooks", source));
}
