//! `call` tasks with the real binary: a workflow runs another as a child run, executed by the
//! same process (`tidewater run`, `retry`) or by the live server.

use std::process::Stdio;

use crate::api_client::Api;
use crate::project::{TestProject, task_states, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// The child writes its interval and its param where the test can read them; `region`
/// defaults to `eu`, which the parent overrides with a template of its own param.
const CHILD: &str = r#"
params: { region: eu }
tasks:
  load:
    sh: echo "{{ ds }} {{ params.region }}" >> loaded.txt
"#;

/// Runs `child` for its own interval with `region` from its params, beside an `sh` task.
const PARENT: &str = r#"
params: { market: kr }
tasks:
  prepare:
    sh: echo prepared
  load_child:
    call:
      workflow: child
      params: { region: "{{ params.market }}-{{ ds }}" }
    needs: [prepare]
"#;

/// A child whose task fails until the file `fixed` exists.
const FRAGILE_CHILD: &str = r#"
tasks:
  check:
    sh: test -f fixed
"#;

const FRAGILE_PARENT: &str = r#"
tasks:
  call_fragile:
    call: { workflow: fragile_child }
"#;

fn run_by_id(project: &TestProject, id: i64) -> serde_json::Value {
    runs(project)
        .into_iter()
        .find(|run| run["id"] == id)
        .unwrap_or_else(|| panic!("run {id} is listed"))
}

#[test]
fn a_call_runs_the_child_for_the_parents_interval_with_its_params_and_no_queue_slot() {
    let project = TestProject::new("", &[("child.yaml", CHILD), ("parent.yaml", PARENT)]);
    // One task at a time: a call that held its slot while waiting would leave none for the
    // child's task, and the run would never end.
    let output = project.run(&[
        "run",
        "parent",
        "--date",
        "2026-01-03",
        "--parallelism",
        "1",
    ]);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(project.read("loaded.txt"), "2026-01-03 kr-2026-01-03\n");

    let all = runs(&project);
    assert_eq!(all.len(), 2, "the parent and one child: {all:?}");
    let parent = project.status_json("1");
    let call = parent["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|task| task["task"] == "load_child")
        .expect("the call task");
    assert_eq!(call["state"], "succeeded");
    assert_eq!(call["child_run"], 2, "{parent}");
    let child = project.status_json("2");
    assert_eq!(child["run"]["workflow"], "child");
    assert_eq!(child["run"]["state"], "succeeded");
    assert_eq!(
        child["called_by"],
        serde_json::json!({ "run": 1, "task": "load_child" })
    );
    assert_eq!(
        child["run"]["data_interval_start"], parent["run"]["data_interval_start"],
        "the child has the parent's data interval"
    );

    // `status` links both ways.
    let shown = text(&project.run(&["status", "2"]).stdout);
    assert!(shown.contains("called by run 1 task load_child"), "{shown}");
    let shown = text(&project.run(&["status", "1"]).stdout);
    let row = shown
        .lines()
        .find(|line| line.starts_with("load_child"))
        .unwrap_or_else(|| panic!("a row for the call: {shown}"));
    assert!(row.contains("child run 2"), "{shown}");
}

/// The page a link of `html` whose text is `text` leads to, after checking that exactly one
/// such link is on the page.
fn follow(api: &Api, html: &str, text: &str) -> String {
    let hrefs: Vec<&str> = html
        .split("<a href=\"")
        .skip(1)
        .filter_map(|rest| {
            let (href, rest) = rest.split_once('"')?;
            let (_, rest) = rest.split_once('>')?;
            rest.starts_with(&format!("{text}</a>")).then_some(href)
        })
        .collect();
    assert_eq!(hrefs.len(), 1, "one link `{text}`: {hrefs:?} in {html}");
    api.page(hrefs[0])
}

/// The run a run page shows, by its title.
fn shown_run(html: &str) -> &str {
    html.split_once("<h1>Run ")
        .and_then(|(_, rest)| rest.split_once("</h1>"))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("a run page: {html}"))
}

#[test]
fn the_ui_and_the_api_link_a_call_tasks_parent_and_child_runs() {
    let project = TestProject::new("", &[("child.yaml", CHILD), ("parent.yaml", PARENT)]);
    let output = project.run(&["run", "parent", "--date", "2026-01-03"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let server = start_server(&project);
    let api = Api::of(&project);

    // The child's page names its parent and the call task, and the link leads to the parent.
    let child_page = api.page("/runs/2");
    assert_eq!(shown_run(&child_page), "2");
    assert!(
        child_page.contains("<dt>Called by</dt>") && child_page.contains("</a> task load_child"),
        "{child_page}"
    );
    let parent_page = follow(&api, &child_page, "run 1");
    assert_eq!(shown_run(&parent_page), "1");
    assert!(parent_page.contains(">parent</a>"), "{parent_page}");
    // The parent's row of the call task links the child, and back to the child it leads.
    let linked_child = follow(&api, &parent_page, "child run 2");
    assert_eq!(shown_run(&linked_child), "2");
    assert!(linked_child.contains(">child</a>"), "{linked_child}");

    let child = api.run(2);
    assert_eq!(
        child["called_by"],
        serde_json::json!({ "run": 1, "task": "load_child" })
    );
    let parent = api.run(1);
    assert_eq!(parent["called_by"], serde_json::Value::Null);
    let children: Vec<(&str, &serde_json::Value)> = parent["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|task| (task["task"].as_str().expect("a name"), &task["child_run"]))
        .collect();
    assert_eq!(
        children,
        [
            ("prepare", &serde_json::Value::Null),
            ("load_child", &serde_json::json!(2))
        ]
    );
    stop_server(server);
}

#[test]
fn a_failed_child_fails_its_parent_and_a_retry_resumes_the_same_child() {
    let project = TestProject::new(
        "",
        &[
            ("fragile_child.yaml", FRAGILE_CHILD),
            ("fragile_parent.yaml", FRAGILE_PARENT),
        ],
    );
    let output = project.run(&["run", "fragile_parent"]);
    assert!(!output.status.success(), "the parent fails with its child");
    let parent = project.status_json("1");
    assert_eq!(parent["run"]["state"], "failed");
    let attempts = parent["tasks"][0]["attempts"].as_array().expect("attempts");
    let reason = attempts[0]["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("child run 2") && reason.contains("check"),
        "the failure names the child run and its failed task: {reason}"
    );
    assert_eq!(project.status_json("2")["run"]["state"], "failed");

    std::fs::write(project.path("fixed"), "").expect("fix the child's input");
    let output = project.run(&["retry", "1"]);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    // Still two runs: the retry resumed child run 2, running its failed task again.
    assert_eq!(runs(&project).len(), 2);
    let child = project.status_json("2");
    assert_eq!(child["run"]["state"], "succeeded");
    assert_eq!(
        child["tasks"][0]["attempts"]
            .as_array()
            .expect("attempts")
            .len(),
        2,
        "the child's task ran again in the same run: {child}"
    );
    assert_eq!(project.status_json("1")["run"]["state"], "succeeded");
}

#[test]
fn a_call_tasks_automatic_retry_resumes_the_same_child_run() {
    // The child's task fails on its first attempt only; the child has no retries of its
    // own, so its run fails once, and only the parent's `retries` can bring it back.
    let child = "tasks:\n  check:\n    sh: 'echo tried >> tries; [ $(wc -l < tries) -ge 2 ]'\n";
    let parent = "tasks:\n  call_child:\n    call: { workflow: once_child }\n    retries: 1\n    retry_delay: 0s\n";
    let project = TestProject::new(
        "",
        &[("once_child.yaml", child), ("once_parent.yaml", parent)],
    );
    let output = project.run(&["run", "once_parent", "--date", "2026-01-03"]);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(
        runs(&project).len(),
        2,
        "one child run, resumed: {:?}",
        runs(&project)
    );
    let parent = project.status_json("1");
    let call = &parent["tasks"][0];
    assert_eq!(call["state"], "succeeded", "{parent}");
    assert_eq!(call["child_run"], 2, "{parent}");
    let attempts = call["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "failed once, retried once: {parent}");
    assert!(
        attempts[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("child run 2")),
        "{parent}"
    );
    let child = project.status_json("2");
    assert_eq!(child["run"]["state"], "succeeded");
    assert_eq!(
        child["tasks"][0]["attempts"].as_array().map(Vec::len),
        Some(2),
        "the child's task ran again in the same run: {child}"
    );
    assert_eq!(project.read("tries"), "tried\ntried\n");
}

#[test]
fn the_server_executes_the_child_of_a_triggered_parent() {
    let project = TestProject::new("", &[("child.yaml", CHILD), ("parent.yaml", PARENT)]);
    let server = start_server(&project);
    let output = project.run(&["trigger", "parent", "--date", "2026-02-01"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    eventually("the parent to succeed", || {
        (run_by_id(&project, 1)["state"] == "succeeded").then_some(())
    });
    stop_server(server);
    assert_eq!(project.read("loaded.txt"), "2026-02-01 kr-2026-02-01\n");
    let all = runs(&project);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(project.status_json("2")["called_by"]["run"], 1);
}

#[test]
fn cancelling_the_parent_cancels_its_child() {
    let (project, mut foreground) = run_caller_of_a_slow_child();
    let output = project.run(&["cancel", "1"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = foreground.wait().expect("run ends");
    assert!(!status.success(), "a cancelled run does not succeed");
    assert_eq!(project.status_json("1")["run"]["state"], "cancelled");
    assert_eq!(project.status_json("2")["run"]["state"], "cancelled");
}

// Regression: a child run executed by a foreground `run` of its parent ignored a cancel
// asked by the child's own id; only cancelling the parent reached it.
#[test]
fn cancelling_a_child_by_its_id_fails_the_call_and_its_parent() {
    let (project, mut foreground) = run_caller_of_a_slow_child();
    let output = project.run(&["cancel", "2"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = foreground.wait().expect("run ends");
    assert!(
        !status.success(),
        "a run whose child was cancelled does not succeed"
    );
    assert_eq!(project.status_json("2")["run"]["state"], "cancelled");
    assert_eq!(project.status_json("1")["run"]["state"], "failed");
}

/// A foreground `run` of `caller` (run 1), whose `call` task runs `slow_child` (run 2) in the
/// same process, once the child's task is running.
fn run_caller_of_a_slow_child() -> (TestProject, std::process::Child) {
    let slow_child = "tasks:\n  wait:\n    sh: sleep 60\n";
    let project = TestProject::new(
        "",
        &[
            ("slow_child.yaml", slow_child),
            (
                "caller.yaml",
                "tasks:\n  call_slow:\n    call: { workflow: slow_child }\n",
            ),
        ],
    );
    let foreground = project
        .command(&["run", "caller"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    eventually("the child's task to run", || {
        let output = project.run(&["status", "2", "--json"]);
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        (task_states(&status) == [("wait".to_owned(), "running".to_owned())]).then_some(())
    });
    (project, foreground)
}

#[test]
fn validate_reports_unknown_and_cyclic_calls_with_their_lines() {
    let project = TestProject::new(
        "",
        &[
            ("a.yaml", "tasks:\n  to_b:\n    call: { workflow: b }\n"),
            ("b.yaml", "tasks:\n  to_a:\n    call: { workflow: a }\n"),
            ("c.yaml", "tasks:\n  typo:\n    call: { workflow: bb }\n"),
        ],
    );
    let output = project.run(&["validate"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("task `to_b` calls workflow `b`, which calls back: a -> b -> a"),
        "{stderr}"
    );
    assert!(
        stderr.contains("task `to_a` calls workflow `a`, which calls back: b -> a -> b"),
        "{stderr}"
    );
    assert!(
        stderr.contains("task `typo` calls workflow `bb`, which is not in this project"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `b`?"), "{stderr}");
    assert!(
        stderr.contains("a.yaml:3"),
        "file:line of the call: {stderr}"
    );
}
