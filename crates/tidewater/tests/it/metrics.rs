//! `GET /metrics` of the real `tidewater server` over loopback, read by the Prometheus
//! Python client's own text parser (tests/parse_metrics.py): runs that succeed, fail and
//! retry, a task waiting for its pool, a scheduled run's delay, and the token it needs.

use serde_json::{Value, json};

use crate::api_client::Api;
use crate::project::{TestProject, python_script, text};
use crate::service::{eventually, start_server, stop_server};

/// One run of it: `ok` succeeds, `flaky` fails once then succeeds on its retry, `broken`
/// fails for good (no retries), so the run fails.
const JOBS: &str = r#"
timezone: UTC
tasks:
  ok:
    sh: echo ok
  flaky:
    sh: |
      if [ ! -f flaky.failed ]; then touch flaky.failed; exit 1; fi
    retries: 1
    retry_delay: 0s
  broken:
    sh: exit 2
"#;

/// `hold` takes the pool's only slot until the test writes `release`; `behind` waits for it.
const POOLED: &str = r#"
timezone: UTC
tasks:
  hold:
    pool: single
    sh: while [ ! -f release ]; do sleep 0.05; done
  behind:
    pool: single
    sh: echo behind
"#;

/// Scheduled daily: the server starts the latest interval's run once the file appears.
const DAILY: &str = r#"
schedule: "0 0 * * *"
timezone: UTC
tasks:
  only:
    sh: echo daily
"#;

/// The families of a scrape as the Prometheus parser read them.
pub(crate) struct Scrape(Vec<Value>);

impl Scrape {
    pub(crate) fn read(api: &Api) -> Scrape {
        let answer = api.get("/metrics");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let body = answer.body.as_str().expect("a text body");
        Scrape(parse(body))
    }

    /// A family of samples; one without samples is not written.
    fn family(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|family| family["name"] == name)
    }

    fn names(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|family| family["name"].as_str().expect("a name"))
            .collect()
    }

    fn type_of(&self, name: &str) -> &str {
        self.family(name)
            .and_then(|family| family["type"].as_str())
            .unwrap_or_else(|| panic!("no family {name} in {:#?}", self.0))
    }

    /// The value of the sample `name` with exactly these labels, if the scrape has it.
    pub(crate) fn value(&self, family: &str, name: &str, labels: Value) -> Option<f64> {
        self.family(family)?["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .find(|sample| sample["name"] == name && sample["labels"] == labels)
            .map(|sample| sample["value"].as_f64().expect("a number"))
    }
}

/// Parses the text with `prometheus_client.parser.text_string_to_metric_families`.
fn parse(body: &str) -> Vec<Value> {
    let output = python_script("parse_metrics.py", body.as_bytes());
    assert!(
        output.status.success(),
        "the Prometheus parser reads the scrape (`python3 -m pip install \
         prometheus-client==0.26.0`): {}\n{body}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's JSON")
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

#[test]
fn metrics_count_runs_attempts_retries_waits_and_delays_in_prometheus_text() {
    let project = TestProject::new(
        "[pools.single]\nslots = 1\n",
        &[("jobs.yaml", JOBS), ("pooled.yaml", POOLED)],
    );
    let server = start_server(&project);
    let api = Api::of(&project);

    // Before any run: no samples but the feed's resets, none.
    let first = Scrape::read(&api);
    assert_eq!(first.names(), ["tidewater_metrics_feed_resets"]);
    assert_eq!(
        first.value(
            "tidewater_metrics_feed_resets",
            "tidewater_metrics_feed_resets_total",
            json!({})
        ),
        Some(0.0)
    );

    // A run that succeeds in part, retries once and fails.
    let created = api.call(
        "POST",
        "/api/v1/workflows/jobs/runs",
        Some(&json!({"date": days_ago(1)}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let run = created.body["id"].as_i64().expect("an id");
    eventually("the jobs run to fail", || {
        (api.run(run)["run"]["state"] == "failed").then_some(())
    });
    let scrape = Scrape::read(&api);
    for (family, kind) in [
        ("tidewater_runs", "gauge"),
        ("tidewater_task_attempts", "counter"),
        ("tidewater_task_retries", "counter"),
        ("tidewater_task_attempt_duration_seconds", "histogram"),
    ] {
        assert_eq!(scrape.type_of(family), kind, "{family}");
    }
    assert_eq!(
        scrape.value(
            "tidewater_runs",
            "tidewater_runs",
            json!({"workflow": "jobs", "state": "failed"})
        ),
        Some(1.0)
    );
    // ok and flaky's retry succeeded; flaky's first attempt and broken failed.
    for (outcome, count) in [("succeeded", 2.0), ("failed", 2.0)] {
        assert_eq!(
            scrape.value(
                "tidewater_task_attempts",
                "tidewater_task_attempts_total",
                json!({"workflow": "jobs", "outcome": outcome})
            ),
            Some(count),
            "{outcome}"
        );
    }
    assert_eq!(
        scrape.value(
            "tidewater_task_retries",
            "tidewater_task_retries_total",
            json!({"workflow": "jobs"})
        ),
        Some(1.0)
    );
    let duration = "tidewater_task_attempt_duration_seconds";
    assert_eq!(
        scrape.value(
            duration,
            &format!("{duration}_count"),
            json!({"workflow": "jobs"})
        ),
        Some(4.0)
    );
    assert_eq!(
        scrape.value(
            duration,
            &format!("{duration}_bucket"),
            json!({"workflow": "jobs", "le": "+Inf"})
        ),
        Some(4.0)
    );
    // A manual run has no scheduling delay.
    assert_eq!(scrape.family("tidewater_scheduling_delay_seconds"), None);

    // A task waiting for its pool's only slot is in the queue's depth, by pool and reason.
    let created = api.call(
        "POST",
        "/api/v1/workflows/pooled/runs",
        Some(&json!({"date": days_ago(1)}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let pooled = created.body["id"].as_i64().expect("an id");
    eventually("behind to wait for the pool", || {
        Scrape::read(&api)
            .value(
                "tidewater_queue_depth",
                "tidewater_queue_depth",
                json!({"pool": "single", "reason": "pool_full"}),
            )
            .filter(|&depth| depth == 1.0)
    });
    std::fs::write(project.path("release"), "").expect("release the slot");
    eventually("the pooled run to succeed", || {
        (api.run(pooled)["run"]["state"] == "succeeded").then_some(())
    });
    let scrape = Scrape::read(&api);
    assert_eq!(
        scrape.family("tidewater_queue_depth"),
        None,
        "nothing waits any more"
    );
    assert_eq!(
        scrape.value(
            "tidewater_task_attempts",
            "tidewater_task_attempts_total",
            json!({"workflow": "pooled", "outcome": "succeeded"})
        ),
        Some(2.0)
    );

    // A scheduled run: its delay is from its interval's end (today's midnight) to its start.
    let before = chrono::Utc::now();
    std::fs::write(project.path("workflows/daily.yaml"), DAILY).expect("write daily.yaml");
    let delay = "tidewater_scheduling_delay_seconds";
    let scrape = eventually("the daily run to start", || {
        let scrape = Scrape::read(&api);
        scrape
            .value(
                delay,
                &format!("{delay}_count"),
                json!({"workflow": "daily"}),
            )
            .filter(|&count| count == 1.0)
            .map(|_| scrape)
    });
    let seconds = scrape
        .value(delay, &format!("{delay}_sum"), json!({"workflow": "daily"}))
        .expect("a sum");
    let since_midnight = |at: chrono::DateTime<chrono::Utc>| {
        (at - at
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc())
        .num_seconds() as f64
    };
    assert!(
        seconds >= since_midnight(before) - 1.0
            && seconds <= since_midnight(chrono::Utc::now()) + 1.0,
        "{seconds} s from midnight to the start"
    );

    // Once a token exists, Prometheus needs one: 401 without it, the metrics with a read one.
    let output = project.run(&["token", "create", "--name", "prometheus", "--scope", "read"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let token = text(&output.stdout).trim().to_owned();
    let refused = api.call("GET", "/metrics", None);
    api.problem(&refused, 401, "needs a token");
    *api.token.borrow_mut() = Some(token);
    let scrape = Scrape::read(&api);
    assert_eq!(
        scrape.value(
            "tidewater_runs",
            "tidewater_runs",
            json!({"workflow": "pooled", "state": "succeeded"})
        ),
        Some(1.0)
    );

    stop_server(server);
}
