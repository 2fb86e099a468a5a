use std::time::Duration;

use tidewater_core::{
    Backoff, Deadline, HandlerKind, TaskAction, TaskIndex, TaskRole, TriggerRule, WaitAction,
    WaitCondition, WorkflowName,
};

use crate::support::{TestProject, parse};

const DAILY_SALES: &str = r#"
name: daily_sales
description: Sales per day, from the source API to the mart.
schedule: "0 2 * * *"
timezone: Asia/Seoul
start: 2026-01-01
catchup: false
max_active_runs: 1
max_active_tasks: 4
params: { region: kr, limits: { rows: 1000 } }
defaults: { retries: 3, retry_delay: 30s, retry_backoff: exponential, timeout: 1h }
tasks:
  extract:
    sh: ./scripts/extract.sh {{ ds }} {{ params.region }}
    pool: source_api
  load_raw:
    needs: [extract]
    sh: echo load {{ ds_nodash }} {{ tasks.extract.output }}
    pool: warehouse
    pool_slots: 2
    priority: 5
  daily_mart:
    needs: load_raw
    sh: |
      echo "mart for {{ data_interval_start | strftime('%Y/%m') }}"
      echo "previous day {{ ds | add_days(-1) }}"
    retries: 0
  notify:
    needs: [daily_mart]
    trigger: all_done
    empty: {}
on_failure:
  sh: ./scripts/alert.sh "{{ workflow }} {{ ds }}"
  retries: 1
"#;

#[test]
fn a_design_like_workflow_loads_into_the_core_model() {
    let loaded = parse("daily_sales", DAILY_SALES).unwrap_or_else(|problems| panic!("{problems}"));
    let workflow = &loaded.workflow;
    assert_eq!(workflow.name.as_str(), "daily_sales");
    assert_eq!(
        workflow
            .schedule
            .as_ref()
            .map(|schedule| schedule.expression()),
        Some("0 2 * * *")
    );
    assert_eq!(workflow.timezone, chrono_tz::Asia::Seoul);
    assert_eq!(
        workflow.start.map(|date| date.to_string()).as_deref(),
        Some("2026-01-01")
    );
    assert!(!workflow.catchup);
    assert_eq!(workflow.max_active_runs, 1);
    assert_eq!(workflow.max_active_tasks, Some(4));
    assert_eq!(
        serde_json::Value::Object(workflow.params.clone()),
        serde_json::json!({ "region": "kr", "limits": { "rows": 1000 } })
    );

    let names: Vec<&str> = workflow
        .tasks()
        .iter()
        .map(|task| task.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["extract", "load_raw", "daily_mart", "notify", "on_failure"]
    );
    assert_eq!(workflow.dag().upstream(TaskIndex(1)), [TaskIndex(0)]);
    assert_eq!(workflow.dag().upstream(TaskIndex(2)), [TaskIndex(1)]);
    assert_eq!(workflow.handler(HandlerKind::OnFailure), Some(TaskIndex(4)));
}

#[test]
fn defaults_fill_in_what_a_task_does_not_set() {
    let loaded = parse("daily_sales", DAILY_SALES).unwrap_or_else(|problems| panic!("{problems}"));
    let workflow = &loaded.workflow;
    let extract = workflow.task(TaskIndex(0));
    assert_eq!(extract.retry.retries, 3);
    assert_eq!(extract.retry.delay, Duration::from_secs(30));
    assert_eq!(
        extract.retry.backoff,
        Backoff::Exponential {
            max_delay: Duration::from_secs(3600)
        }
    );
    assert_eq!(extract.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(
        extract.pool.as_ref().map(|pool| pool.as_str()),
        Some("source_api")
    );
    assert_eq!(extract.pool_slots, 1);

    let load_raw = workflow.task(TaskIndex(1));
    assert_eq!(load_raw.pool_slots, 2);
    assert_eq!(load_raw.priority, 5);
    assert_eq!(workflow.task(TaskIndex(2)).retry.retries, 0);
    assert_eq!(workflow.task(TaskIndex(3)).trigger, TriggerRule::AllDone);
    assert_eq!(workflow.task(TaskIndex(3)).action, TaskAction::Empty);

    let on_failure = workflow.task(TaskIndex(4));
    assert_eq!(on_failure.role, TaskRole::Handler(HandlerKind::OnFailure));
    assert_eq!(on_failure.retry.retries, 1);
    assert!(on_failure.needs.is_empty());
}

#[test]
fn a_shell_command_keeps_its_template_text() {
    let loaded = parse("daily_sales", DAILY_SALES).unwrap_or_else(|problems| panic!("{problems}"));
    assert_eq!(
        loaded.workflow.task(TaskIndex(0)).action,
        TaskAction::Sh {
            command: "./scripts/extract.sh {{ ds }} {{ params.region }}".to_owned(),
            env: Vec::new(),
        }
    );
    let TaskAction::Sh { command, .. } = &loaded.workflow.task(TaskIndex(2)).action else {
        panic!("daily_mart is a shell task");
    };
    assert!(command.ends_with("add_days(-1) }}\"\n"), "{command:?}");
}

#[test]
fn on_retry_as_a_command_is_no_task_and_keeps_its_template_text() {
    let source = "tasks:\n  load: { sh: echo load, retries: 2 }\non_retry:\n  sh: echo \"{{ retried_task }} {{ attempt }}\" >> retries.log\n";
    let loaded = parse("load", source).unwrap_or_else(|problems| panic!("{problems}"));
    let workflow = &loaded.workflow;
    assert_eq!(
        workflow.on_retry_command.as_deref(),
        Some("echo \"{{ retried_task }} {{ attempt }}\" >> retries.log")
    );
    assert_eq!(workflow.tasks().len(), 1, "no handler task");
    assert!(workflow.webhooks.is_empty());
}

#[test]
fn a_minimal_workflow_takes_its_name_from_the_file_and_defaults_for_the_rest() {
    let loaded = parse("hello", "tasks:\n  say:\n    sh: echo hello\n")
        .unwrap_or_else(|problems| panic!("{problems}"));
    let workflow = &loaded.workflow;
    assert_eq!(workflow.name.as_str(), "hello");
    assert!(workflow.schedule.is_none());
    assert_eq!(workflow.timezone, chrono_tz::UTC);
    assert_eq!(workflow.max_active_runs, 1);
    let say = workflow.task(TaskIndex(0));
    assert_eq!(say.retry, tidewater_core::RetryPolicy::default());
    assert_eq!(say.trigger, TriggerRule::AllSuccess);
    assert_eq!(say.timeout, None);
}

#[test]
fn empty_accepts_an_empty_map_null_and_true() {
    let source =
        "tasks:\n  a: { empty: {} }\n  b: { empty: null }\n  c: { empty: true }\n  d: { empty: }\n";
    let loaded = parse("joins", source).unwrap_or_else(|problems| panic!("{problems}"));
    assert!(
        loaded
            .workflow
            .tasks()
            .iter()
            .all(|task| task.action == TaskAction::Empty)
    );
}

#[test]
fn loaded_workflows_carry_their_source_and_its_hash() {
    let project = TestProject::new();
    let path = project.write("workflows/daily_sales.yaml", DAILY_SALES);
    let loaded = project
        .open()
        .load_workflow("daily_sales")
        .unwrap_or_else(|problems| panic!("{problems}"));
    assert_eq!(loaded.path, path);
    assert_eq!(loaded.source, DAILY_SALES);
    assert_eq!(
        loaded.hash,
        tidewater_spec::LoadedWorkflow::hash_of(DAILY_SALES)
    );
    assert_eq!(loaded.hash.len(), 64);
}

#[test]
fn a_run_timeout_and_a_deadline_after_the_interval_load_with_their_handler() {
    let source = r#"
timeout: 2h
deadline: 3h
tasks:
  orders:
    wait: { workflow: daily_orders, poke_interval: 1m }
on_deadline_miss:
  sh: ./scripts/alert.sh late
"#;
    let loaded = parse("report", source).unwrap_or_else(|problems| panic!("{problems}"));
    let workflow = &loaded.workflow;
    assert_eq!(workflow.timeout, Some(Duration::from_secs(2 * 3600)));
    assert_eq!(
        workflow.deadline,
        Some(Deadline::after_interval_end(Duration::from_secs(3 * 3600)))
    );
    let handler = workflow
        .handler(HandlerKind::OnDeadlineMiss)
        .expect("declared");
    assert_eq!(
        workflow.task(handler).role,
        TaskRole::Handler(HandlerKind::OnDeadlineMiss)
    );
    assert_eq!(
        workflow.task(TaskIndex(0)).action,
        TaskAction::Wait(WaitAction {
            condition: WaitCondition::Workflow {
                workflow: WorkflowName::new("daily_orders")
            },
            poke_interval: Duration::from_secs(60),
        })
    );
}

#[test]
fn a_deadline_at_a_time_of_day_may_be_quoted_or_not() {
    for deadline in ["\"06:00\"", "06:00", "6:00"] {
        let source = format!("deadline: {deadline}\ntasks:\n  a: {{ empty: {{}} }}\n");
        let loaded = parse("daily", &source).unwrap_or_else(|problems| panic!("{problems}"));
        assert_eq!(
            loaded.workflow.deadline,
            Deadline::time_of_day(6, 0),
            "{deadline}"
        );
        let recorder = loaded
            .workflow
            .handler(HandlerKind::OnDeadlineMiss)
            .expect("a workflow with a deadline records its misses");
        assert_eq!(loaded.workflow.task(recorder).action, TaskAction::Empty);
    }
}
