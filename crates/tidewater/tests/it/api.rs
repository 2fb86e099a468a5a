//! The HTTP API of `tidewater server` with the real binary over loopback: every route of the
//! first slice and its errors, each error answered as `application/problem+json` with
//! nothing recorded.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{POOLED, eventually, start_server, stop_server};

/// No schedule: only the requests of the test create runs. `slow` blocks the first time
/// until its sleeper is killed (a cancel); later it passes.
const MANUAL: &str = r#"
timezone: UTC
params:
  region: eu
tasks:
  first:
    sh: echo "first {{ ds }} {{ params.region }}" >> ran.txt
  slow:
    needs: [first]
    sh: |
      if [ -f block.first ] && [ ! -f slow.started ]; then
        touch slow.started
        sleep 600 &
        echo $! > sleeper.pid
        wait
      fi
      echo "slow {{ ds }}" >> ran.txt
"#;

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

#[test]
fn the_api_serves_workflows_runs_backfills_and_the_queue_and_refuses_bad_requests() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    let server = start_server(&project);
    let api = Api::of(&project);

    // Workflows: the overview (`tidewater workflows --json`'s shape) and one graph.
    let workflows = api.get("/api/v1/workflows");
    assert_eq!(workflows.status, 200, "{workflows:?}");
    assert_eq!(workflows.body[0]["workflow"], "manual");
    assert_eq!(workflows.body[0]["paused"], false);
    let graph = api.ask(
        "GET",
        "/api/v1/workflows/{name}",
        "/api/v1/workflows/manual",
        None,
    );
    assert_eq!(graph.status, 200, "{graph:?}");
    assert_eq!(graph.body["tasks"][0]["task"], "first");
    assert_eq!(graph.body["tasks"][1]["needs"], json!(["first"]));
    assert_eq!(
        graph.body["edges"],
        json!([{"from": "first", "to": "slow"}])
    );

    // A manual run: 201 and the run, executed by the server.
    let date = days_ago(2);
    let created = api.ask(
        "POST",
        "/api/v1/workflows/{name}/runs",
        "/api/v1/workflows/manual/runs",
        Some(&json!({"date": date, "params": {"region": "us"}}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["trigger"], "manual");
    assert_eq!(created.body["state"], "queued");
    let first = created.body["id"].as_i64().expect("an id");
    eventually("the run to succeed", || {
        (api.run(first)["run"]["state"] == "succeeded").then_some(())
    });
    assert!(
        project
            .read("ran.txt")
            .contains(&format!("first {date} us"))
    );
    // The same shape as `tidewater status RUN --json`.
    assert_eq!(api.run(first), project.status_json(&first.to_string()));
    let status = api.run(first);
    assert_eq!(status["tasks"][0]["task"], "first");
    assert_eq!(status["tasks"][0]["attempts"][0]["outcome"], "succeeded");

    // An interval by its ends.
    let between = api.ask(
        "POST",
        "/api/v1/workflows/{name}/runs",
        "/api/v1/workflows/manual/runs",
        Some(&json!({"interval": {"start": days_ago(4), "end": days_ago(3)}}).to_string()),
    );
    assert_eq!(between.status, 201, "{between:?}");
    let second = between.body["id"].as_i64().expect("an id");
    eventually("the second run to succeed", || {
        (api.run(second)["run"]["state"] == "succeeded").then_some(())
    });

    // Runs newest first, paged by the cursor; the same shape as `tidewater runs --json`.
    let runs = api.all_runs();
    assert_eq!(
        runs.iter()
            .map(|run| run["id"].as_i64())
            .collect::<Vec<_>>(),
        [Some(second), Some(first)]
    );
    let cli = crate::service::runs(&project);
    assert_eq!(runs, cli);
    let page = api.get("/api/v1/runs?limit=1");
    assert_eq!(page.body["next_before"], second);
    let filtered = api.get("/api/v1/runs?workflow=manual&state=failed");
    assert_eq!(filtered.body, json!({"runs": [], "next_before": null}));

    // Bad requests: 4xx problems, and nothing recorded.
    let runs_path = "/api/v1/workflows/manual/runs";
    let template = "/api/v1/workflows/{name}/runs";
    let bad_date = api.ask(
        "POST",
        template,
        runs_path,
        Some(r#"{"date": "2026-13-01"}"#),
    );
    api.problem(&bad_date, 422, "is not a date");
    let malformed = api.ask("POST", template, runs_path, Some(r#"{"date": "#));
    api.problem(&malformed, 400, "JSON");
    let unknown_field = api.ask(
        "POST",
        template,
        runs_path,
        Some(r#"{"day": "2026-01-01"}"#),
    );
    api.problem(&unknown_field, 422, "day");
    let both = api.ask(
        "POST",
        template,
        runs_path,
        Some(&json!({"date": date, "interval": {"start": date, "end": date}}).to_string()),
    );
    api.problem(&both, 422, "not both");
    let bad_param = api.ask(
        "POST",
        template,
        runs_path,
        Some(&json!({"date": date, "params": {"regoin": "us"}}).to_string()),
    );
    api.problem(&bad_param, 422, "param `regoin`");
    let unknown_workflow = api.ask(
        "POST",
        template,
        "/api/v1/workflows/nope/runs",
        Some(&json!({"date": date}).to_string()),
    );
    api.problem(&unknown_workflow, 404, "no workflow named `nope`");
    let unknown_graph = api.ask(
        "GET",
        "/api/v1/workflows/{name}",
        "/api/v1/workflows/nope",
        None,
    );
    api.problem(&unknown_graph, 404, "nope");
    api.problem(
        &api.call("GET", "/api/v1/runs/999", None),
        404,
        "no run 999",
    );
    api.problem(&api.call("GET", "/api/v1/runs/abc", None), 400, "abc");
    api.problem(&api.get("/api/v1/runs?state=sleeping"), 422, "sleeping");
    api.problem(&api.get("/api/v1/runs?limit=0"), 422, "limit");
    api.problem(&api.get("/api/v1/runs?limit=many"), 400, "limit");
    api.problem(
        &api.call("GET", "/api/v1/nothing", None),
        404,
        "/api/v1/nothing",
    );
    api.problem(
        &api.call("DELETE", "/api/v1/runs", None),
        405,
        "/api/v1/runs",
    );
    // A succeeded run is neither retried nor cancelled.
    let retry_done = api.ask(
        "POST",
        "/api/v1/runs/{id}/retry",
        &format!("/api/v1/runs/{first}/retry"),
        Some("{}"),
    );
    api.problem(&retry_done, 409, "already succeeded");
    let cancel_done = api.ask(
        "POST",
        "/api/v1/runs/{id}/cancel",
        &format!("/api/v1/runs/{first}/cancel"),
        None,
    );
    api.problem(&cancel_done, 409, "succeeded");
    api.problem(
        &api.call("POST", "/api/v1/runs/999/retry", Some("{}")),
        404,
        "no run 999",
    );
    assert_eq!(
        api.all_runs(),
        runs,
        "the refused requests recorded nothing"
    );
    assert_eq!(api.run(first), status);

    // Pause and unpause.
    let paused_path = "/api/v1/workflows/manual/paused";
    let paused_template = "/api/v1/workflows/{name}/paused";
    let paused = api.ask(
        "PUT",
        paused_template,
        paused_path,
        Some(r#"{"paused": true}"#),
    );
    assert_eq!(paused.status, 200, "{paused:?}");
    assert_eq!(
        paused.body,
        json!({"workflow": "manual", "paused": true, "changed": true})
    );
    assert_eq!(api.get("/api/v1/workflows").body[0]["paused"], true);
    let again = api.ask(
        "PUT",
        paused_template,
        paused_path,
        Some(r#"{"paused": true}"#),
    );
    assert_eq!(again.body["changed"], false);
    api.problem(
        &api.ask(
            "PUT",
            paused_template,
            paused_path,
            Some(r#"{"paused": "yes"}"#),
        ),
        422,
        "paused",
    );
    let unpaused = api.ask(
        "PUT",
        paused_template,
        paused_path,
        Some(r#"{"paused": false}"#),
    );
    assert_eq!(unpaused.body["changed"], true);
    assert_eq!(api.get("/api/v1/workflows").body[0]["paused"], false);

    // Backfills: a dry run records nothing; then the server executes the real one.
    let range = json!({"workflow": "manual", "from": days_ago(7), "to": days_ago(5)});
    let mut dry = range.clone();
    dry["dry_run"] = json!(true);
    let plan = api.ask(
        "POST",
        "/api/v1/backfills",
        "/api/v1/backfills",
        Some(&dry.to_string()),
    );
    assert_eq!(plan.status, 200, "{plan:?}");
    assert_eq!(plan.body["backfill"], Value::Null);
    let steps: Vec<&Value> = plan.body["plan"]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|interval| &interval["step"])
        .collect();
    assert_eq!(steps, [&json!("create"); 3]);
    assert_eq!(api.all_runs(), runs, "a dry run records nothing");
    let mut bad_range = range.clone();
    bad_range["to"] = json!("yesterday");
    api.problem(
        &api.ask(
            "POST",
            "/api/v1/backfills",
            "/api/v1/backfills",
            Some(&bad_range.to_string()),
        ),
        422,
        "yesterday",
    );
    let started = api.ask(
        "POST",
        "/api/v1/backfills",
        "/api/v1/backfills",
        Some(&range.to_string()),
    );
    assert_eq!(started.status, 201, "{started:?}");
    assert_eq!(started.body["created"], 3);
    let backfill = started.body["backfill"]["id"].as_i64().expect("an id");
    let progress = eventually("the backfill to finish", || {
        let answer = api.ask(
            "GET",
            "/api/v1/backfills/{id}",
            &format!("/api/v1/backfills/{backfill}"),
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        (answer.body["runs"]["succeeded"] == 3).then_some(answer.body)
    });
    assert_eq!(progress["workflow"], "manual");
    assert_eq!(progress["runs"]["total"], 3);
    api.problem(&api.call("GET", "/api/v1/backfills/999", None), 404, "999");

    // The queue: nothing waits now.
    let queue = api.get("/api/v1/queue");
    assert_eq!(queue.status, 200, "{queue:?}");
    assert_eq!(queue.body, json!([]));

    // The document: OpenAPI 3.1, with every route this test asked.
    let document = api.get("/api/v1/openapi.json");
    assert_eq!(document.status, 200);
    assert!(
        document.body["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1")),
        "{}",
        document.body["openapi"]
    );
    let documented: BTreeSet<String> = document.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    let asked: BTreeSet<String> = api
        .asked
        .borrow()
        .iter()
        .map(|route| route.split('?').next().unwrap_or(route).to_owned())
        .collect();
    let undocumented: Vec<&String> = asked.difference(&documented).collect();
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
    stop_server(server);
}

#[test]
fn a_running_run_is_cancelled_and_retried_through_the_api_and_conflicts_are_refused() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    std::fs::write(project.path("block.first"), "").expect("marker");
    let server = start_server(&project);
    let api = Api::of(&project);
    let date = days_ago(1);
    let created = api.call(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&json!({"date": date}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_i64().expect("an id");
    eventually("slow to start", || {
        project.path("sleeper.pid").exists().then_some(())
    });
    let running = api.run(id);
    assert_eq!(running["run"]["state"], "running");

    // Conflicts: a second run of the interval, a retry of the running run.
    let second = api.call(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&json!({"date": date}).to_string()),
    );
    api.problem(&second, 409, &format!("run {id} of manual"));
    let retry = api.call("POST", &format!("/api/v1/runs/{id}/retry"), Some("{}"));
    api.problem(&retry, 409, "is being executed");
    assert_eq!(
        api.all_runs().len(),
        1,
        "the refused requests created no run"
    );

    // Cancel: asked at once (202); the server stops the run.
    let cancel = api.call("POST", &format!("/api/v1/runs/{id}/cancel"), None);
    assert_eq!(cancel.status, 202, "{cancel:?}");
    assert_eq!(cancel.body["id"], id);
    eventually("the run to be cancelled", || {
        (api.run(id)["run"]["state"] == "cancelled").then_some(())
    });
    let sleeper: i32 = project.read("sleeper.pid").trim().parse().expect("a pid");
    eventually("the sleeper to be killed", || {
        (!crate::service::is_running(sleeper)).then_some(())
    });

    // Retry: queued again for the server (202), which runs `slow` again and passes.
    let retried = api.call(
        "POST",
        &format!("/api/v1/runs/{id}/retry"),
        Some(r#"{"latest": true}"#),
    );
    assert_eq!(retried.status, 202, "{retried:?}");
    assert_eq!(retried.body["id"], id);
    let status = eventually("the retried run to succeed", || {
        let status = api.run(id);
        (status["run"]["state"] == "succeeded").then_some(status)
    });
    assert_eq!(
        status["tasks"][0]["attempts"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(project.read("ran.txt").contains(&format!("slow {date}")));
    stop_server(server);
}

#[test]
fn the_server_refuses_to_listen_beyond_loopback_while_the_api_has_no_tokens() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    let output = project.run(&["server", "--listen", "0.0.0.0:0"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    let health = crate::service::health(&project);
    assert_eq!(health["server"], Value::Null, "nothing was claimed");
    // The same from tidewater.toml, named as the file's setting.
    let project = TestProject::new(
        "[server]\nlisten = \"0.0.0.0:0\"\n",
        &[("manual.yaml", MANUAL)],
    );
    let output = project.run(&["server"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("[server] listen in tidewater.toml: `0.0.0.0:0` is not a loopback address"),
        "{stderr}"
    );
}

#[test]
fn the_api_listens_where_tidewater_toml_says() {
    let port = {
        // A free port, given back for the server to take.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let project = TestProject::new(
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"),
        &[("manual.yaml", MANUAL)],
    );
    let server = project
        .command(&["server"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(
            std::fs::File::create(project.path("server.log")).expect("server log"),
        ))
        .spawn()
        .expect("server starts");
    let api = Api::of(&project);
    assert_eq!(api.port, port);
    assert_eq!(api.get("/api/v1/workflows").status, 200);
    stop_server(server);
}

/// Each run waits for `go`, then writes its date: a backfill's runs are seen queued behind
/// its cap, and `order.txt` tells the order they ran in.
const GATED: &str = r#"
timezone: UTC
tasks:
  day:
    sh: |
      while [ ! -f go ]; do sleep 0.05; done
      echo "{{ ds }}" >> order.txt
"#;

/// Needs a task that no file defines.
const BROKEN: &str = "timezone: UTC\ntasks:\n  a:\n    sh: echo a\n    needs: [nowhere]\n";

/// Runs `tidewater ARGS --json` in the project; its output parsed.
fn cli_json(project: &TestProject, args: &[&str]) -> Value {
    let output = project.run(args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The `step` of each interval of a backfill plan.
fn plan_steps(outcome: &Value) -> Vec<String> {
    outcome["plan"]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|interval| interval["step"].as_str().expect("a step").to_owned())
        .collect()
}

#[test]
fn the_queue_says_why_runs_and_tasks_wait_and_backfill_options_take_effect_through_the_api() {
    let project = TestProject::new(
        "[pools.single]\nslots = 1\n",
        &[
            ("gated.yaml", GATED),
            ("pooled.yaml", POOLED),
            ("broken.yaml", BROKEN),
        ],
    );
    let server = start_server(&project);
    let api = Api::of(&project);
    let backfill = |body: Value| {
        api.ask(
            "POST",
            "/api/v1/backfills",
            "/api/v1/backfills",
            Some(&body.to_string()),
        )
    };

    // One run at a time, newest first.
    let started = backfill(json!({
        "workflow": "gated", "from": "2026-01-01", "to": "2026-01-03",
        "max_active_runs": 1, "reverse": true,
    }));
    assert_eq!(started.status, 201, "{started:?}");
    assert_eq!(started.body["created"], 3);
    assert_eq!(started.body["plan"]["max_active_runs"], 1);
    assert_eq!(started.body["plan"]["reverse"], true);
    let pooled = api.call("POST", "/api/v1/workflows/pooled/runs", Some("{}"));
    assert_eq!(pooled.status, 201, "{pooled:?}");
    let pooled = pooled.body["id"].as_i64().expect("an id");

    // What waits, and why: two runs behind the backfill's cap, a task behind the pool's
    // one slot. The same explanation as `tidewater queue --json`.
    let waiting = eventually("two runs and a task to wait", || {
        let queue = api.get("/api/v1/queue");
        assert_eq!(queue.status, 200, "{queue:?}");
        let waiting = queue.body.as_array().expect("a list").clone();
        let is_task_waiting = waiting
            .iter()
            .any(|entry| entry["workflow"] == "pooled" && entry["task"].is_string());
        (waiting.len() == 3 && is_task_waiting).then_some(waiting)
    });
    let backfill_runs: Vec<&Value> = waiting
        .iter()
        .filter(|entry| entry["workflow"] == "gated")
        .collect();
    assert_eq!(backfill_runs.len(), 2, "{waiting:?}");
    for run in &backfill_runs {
        assert_eq!(run["task"], Value::Null, "{run}");
        assert_eq!(run["state"], "queued", "{run}");
        assert!(
            run["why"]
                .as_str()
                .is_some_and(|why| why.contains("max_active_runs 1")),
            "{run}"
        );
    }
    let task = waiting
        .iter()
        .find(|entry| entry["workflow"] == "pooled")
        .expect("the pooled task");
    assert_eq!(task["run"], pooled);
    assert!(
        task["why"]
            .as_str()
            .is_some_and(|why| why.contains("pool single 1/1 slots")),
        "{task}"
    );
    // Explained against the server's parallelism (`start_server` gives it `--parallelism 4`;
    // the CLI knows only tidewater.toml's).
    assert_eq!(
        Value::Array(waiting.clone()),
        cli_json(&project, &["queue", "--json", "--parallelism", "4"]),
        "the API and the CLI explain the queue alike"
    );

    std::fs::write(project.path("go"), "").expect("release the backfill's runs");
    std::fs::write(project.path("go.pooled"), "").expect("release the pooled tasks");
    let id = started.body["backfill"]["id"].as_i64().expect("an id");
    eventually("the backfill to finish", || {
        let progress = api.get(&format!("/api/v1/backfills/{id}"));
        (progress.body["runs"]["succeeded"] == 3).then_some(())
    });
    // The pooled run ends too, so that the workflows' listings compared below do not race it.
    eventually("the pooled run to finish", || {
        api.all_runs()
            .iter()
            .filter(|run| run["workflow"] == "pooled")
            .all(|run| run["state"] == "succeeded")
            .then_some(())
    });
    assert_eq!(
        project.read("order.txt"),
        "2026-01-03\n2026-01-02\n2026-01-01\n",
        "newest first, one at a time"
    );

    // only_missing skips the intervals that succeeded; a dry run records nothing.
    let wider =
        json!({"workflow": "gated", "from": "2025-12-31", "to": "2026-01-04", "dry_run": true});
    let every = backfill(wider.clone());
    assert_eq!(every.status, 200, "{every:?}");
    assert_eq!(plan_steps(&every.body), ["create"; 5]);
    let mut missing = wider.clone();
    missing["only_missing"] = json!(true);
    let only_missing = backfill(missing.clone());
    assert_eq!(only_missing.status, 200, "{only_missing:?}");
    assert_eq!(
        plan_steps(&only_missing.body),
        ["create", "skip", "skip", "skip", "create"]
    );
    assert_eq!(api.all_runs().len(), 4, "the dry runs recorded nothing");
    missing["dry_run"] = json!(false);
    let filled = backfill(missing);
    assert_eq!(filled.status, 201, "{filled:?}");
    assert_eq!(filled.body["created"], 2);
    let filled_id = filled.body["backfill"]["id"].as_i64().expect("an id");
    eventually("the gaps to be filled", || {
        let progress = api.get(&format!("/api/v1/backfills/{filled_id}"));
        (progress.body["runs"]["succeeded"] == 2).then_some(())
    });
    let mut days: Vec<String> = project
        .read("order.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    days.sort();
    assert_eq!(
        days,
        [
            "2025-12-31",
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04"
        ],
        "each interval ran once"
    );

    // The workflows: a broken file's diagnostic, each workflow's recent runs newest first;
    // the same as `tidewater workflows --json`.
    let workflows = api.get("/api/v1/workflows");
    assert_eq!(workflows.status, 200, "{workflows:?}");
    let by_file = |file: &str| {
        workflows
            .body
            .as_array()
            .expect("a list")
            .iter()
            .find(|entry| entry["file"] == file)
            .cloned()
            .unwrap_or_else(|| panic!("{file} in {workflows:?}"))
    };
    let broken = by_file("workflows/broken.yaml");
    assert_eq!(broken["workflow"], Value::Null);
    assert_eq!(broken["problem"]["location"], "workflows/broken.yaml:5");
    assert!(
        broken["problem"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("nowhere")),
        "{broken}"
    );
    assert_eq!(broken["recent_runs"], json!([]));
    let gated = by_file("workflows/gated.yaml");
    let gated_runs: Vec<i64> = api
        .all_runs()
        .iter()
        .filter(|run| run["workflow"] == "gated")
        .map(|run| run["id"].as_i64().expect("an id"))
        .collect();
    let recent: Vec<i64> = gated["recent_runs"]
        .as_array()
        .expect("recent runs")
        .iter()
        .map(|run| run["id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(recent, gated_runs, "newest first, as the run listing");
    assert_eq!(gated["recent_runs"][0]["state"], "succeeded");
    assert_eq!(gated["last_run"]["id"], recent[0]);
    assert_eq!(
        workflows.body,
        cli_json(&project, &["workflows", "--json"]),
        "the API and the CLI list the workflows alike"
    );
    stop_server(server);
}

/// Fails until its file is fixed.
const FAILING: &str = "timezone: UTC\ntasks:\n  broken:\n    sh: exit 4\n";

#[test]
fn a_retry_keeps_the_runs_version_and_a_retry_on_the_latest_repins_it_to_the_fixed_file() {
    let project = TestProject::new("", &[("failing.yaml", FAILING)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    let created = api.call(
        "POST",
        "/api/v1/workflows/failing/runs",
        Some(r#"{"date": "2026-01-01"}"#),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_i64().expect("an id");
    let pinned = created.body["workflow_hash"].clone();
    let failed = |attempts: usize| {
        eventually("the run to fail", || {
            let status = api.run(id);
            (status["run"]["state"] == "failed"
                && status["tasks"][0]["attempts"].as_array().map(Vec::len) == Some(attempts))
            .then_some(status)
        })
    };
    failed(1);
    let workflow_file = project.path("workflows/failing.yaml");
    let fixed = format!(
        "{}  report:\n    sh: echo reported\n    needs: [broken]\n",
        FAILING.replace("exit 4", "echo fixed")
    );
    std::fs::write(&workflow_file, &fixed).expect("fix the file");

    // A plain retry resumes the version the run was created with: it fails again.
    let retried = api.call(
        "POST",
        &format!("/api/v1/runs/{id}/retry"),
        Some(r#"{"latest": false}"#),
    );
    assert_eq!(retried.status, 202, "{retried:?}");
    let status = failed(2);
    assert_eq!(status["run"]["workflow_hash"], pinned);
    assert_eq!(
        status["tasks"][0]["attempts"][1]["reason"],
        "exited with status 4"
    );

    // A version without a task the run has cannot take the run over: refused, nothing recorded.
    std::fs::write(&workflow_file, FAILING.replace("broken", "renamed")).expect("remove the task");
    let removed = api.call(
        "POST",
        &format!("/api/v1/runs/{id}/retry"),
        Some(r#"{"latest": true}"#),
    );
    api.problem(&removed, 409, "no longer has task(s) broken");
    api.problem(&removed, 409, "start a new run instead");
    assert_eq!(api.run(id), status, "the refusal recorded nothing");

    // On the fixed file: the run is pinned to it, its new task starts pending, the server
    // resumes it and it succeeds.
    std::fs::write(&workflow_file, &fixed).expect("fix the file again");
    let latest = api.call(
        "POST",
        &format!("/api/v1/runs/{id}/retry"),
        Some(r#"{"latest": true}"#),
    );
    assert_eq!(latest.status, 202, "{latest:?}");
    let status = eventually("the run to succeed", || {
        let status = api.run(id);
        (status["run"]["state"] == "succeeded").then_some(status)
    });
    let repinned = status["run"]["workflow_hash"].clone();
    assert_ne!(repinned, pinned, "the run is pinned to the fixed file");
    assert_eq!(
        status["tasks"][0]["attempts"][2]["outcome"], "succeeded",
        "{status}"
    );
    let report = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|task| task["task"] == "report")
        .expect("the new task is in the run");
    assert_eq!(report["state"], "succeeded", "{status}");
    let cli_status = cli_json(&project, &["status", &id.to_string(), "--json"]);
    assert_eq!(cli_status["run"]["workflow_hash"], repinned);
    stop_server(server);
}
