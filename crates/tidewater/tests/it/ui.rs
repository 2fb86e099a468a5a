//! The web UI in a real browser: Debian's chromium driven by playwright-core (from npm, its
//! lockfile in `tests/browser/`) against the real server on a free loopback port. The
//! scenarios are the node script `tests/browser/ui.test.mjs` (node's own test runner); this
//! test makes the project, starts the server, runs the script and fails with its output.
//! Missing node modules, node or chromium fail the test with what to install: never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{POOLED, start_server, stop_server};

/// Manual; its first task waits until the browser test creates `go.quick`, so the grid is
/// seen running before it turns green.
const QUICK: &str = r#"
timezone: UTC
tasks:
  extract:
    sh: |
      while [ ! -f go.quick ]; do sleep 0.1; done
      echo extracted
  transform:
    needs: [extract]
    sh: echo transformed
  load:
    needs: [transform]
    sh: echo loaded
  report:
    needs: [extract]
    sh: echo reported
"#;

/// Writes a line every 0.2 s for two minutes (until cancelled).
const CHATTY: &str = r#"
timezone: UTC
tasks:
  talk:
    sh: |
      for i in $(seq 1 600); do echo "line $i"; sleep 0.2; done
  after:
    needs: [talk]
    sh: echo done
"#;

/// One quick task a day, to backfill.
const HISTORY: &str = r#"
timezone: UTC
tasks:
  day:
    sh: echo "day {{ ds }}"
"#;

/// Fails its second task until the browser test creates `fixed.flaky` (a fix outside the
/// workflow file, so a retry on the pinned version passes).
const FLAKY: &str = r#"
timezone: UTC
tasks:
  fetch:
    sh: echo fetched
  check:
    needs: [fetch]
    sh: |
      if [ ! -f fixed.flaky ]; then echo "the input is not fixed yet" >&2; exit 3; fi
      echo checked
"#;

/// Always fails: the browser test edits this file to see what retrying on the latest
/// version does.
const PINNED: &str = r#"
timezone: UTC
tasks:
  broken:
    sh: exit 4
"#;

/// Writes a log of about 200 KiB, longer than the part a task page shows at first.
const BULKY: &str = r#"
timezone: UTC
tasks:
  bulk:
    sh: |
      for i in $(seq 1 2500); do echo "bulk line $i of a log long enough to need paging"; done
"#;

/// A param the browser test sets when it triggers.
const REGIONAL: &str = r#"
timezone: UTC
params:
  region: eu
tasks:
  report:
    sh: echo "report for {{ params.region }}"
"#;

/// A chain of short tasks: each turns green a little after the one before, for measuring
/// how soon a state change shows.
const STEPS: &str = r#"
timezone: UTC
tasks:
  s1:
    sh: sleep 0.4
  s2:
    needs: [s1]
    sh: sleep 0.4
  s3:
    needs: [s2]
    sh: sleep 0.4
  s4:
    needs: [s3]
    sh: sleep 0.4
  s5:
    needs: [s4]
    sh: sleep 0.4
  s6:
    needs: [s5]
    sh: sleep 0.4
  s7:
    needs: [s6]
    sh: sleep 0.4
  s8:
    needs: [s7]
    sh: sleep 0.4
"#;

/// One quick task, for enough runs to page the grid.
const MANY: &str = r#"
timezone: UTC
tasks:
  one:
    sh: echo one
"#;

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What the browser test needs, or a message saying how to install what is missing.
fn check_tools() -> Result<String, String> {
    let folder = browser_folder();
    if !folder
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Err(format!(
            "the browser test needs its node modules: run `npm ci` in {} (CI's .ci/run does)",
            folder.display()
        ));
    }
    let chromium = std::env::var("TIDEWATER_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "the browser test needs chromium at {chromium}: `apt-get install -y chromium` \
             (or set TIDEWATER_CHROMIUM); it never downloads a browser"
        ));
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(chromium),
        _ => Err("the browser test needs node (20 or newer) on the PATH".to_owned()),
    }
}

#[test]
fn the_web_ui_logs_in_triggers_retries_follows_cancels_pauses_backfills_pages_and_links_partitions()
{
    let chromium = check_tools().unwrap_or_else(|missing| panic!("{missing}"));
    // The example project: daily_orders writes raw.orders partitioned by day. Paused, so the
    // server schedules nothing of its own; one run of it writes the 2026-01-01 partition.
    let project = TestProject::example();
    for (name, text) in [
        ("quick.yaml", QUICK),
        ("chatty.yaml", CHATTY),
        ("history.yaml", HISTORY),
        ("flaky.yaml", FLAKY),
        ("pinned.yaml", PINNED),
        ("bulky.yaml", BULKY),
        ("pooled.yaml", POOLED),
        ("regional.yaml", REGIONAL),
        ("steps.yaml", STEPS),
        ("many.yaml", MANY),
    ] {
        std::fs::write(project.path("workflows").join(name), text).expect("write a workflow");
    }
    let mut settings = project.read("tidewater.toml");
    settings.push_str("\n[pools.single]\nslots = 1\n");
    std::fs::write(project.path("tidewater.toml"), settings).expect("write tidewater.toml");
    let paused = project.run(&["pause", "daily_orders"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    let ran = project.run(&["run", "daily_orders", "--date", "2026-01-01"]);
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    // With a token, every page needs a session: the browser logs in first.
    let created = project.run(&["token", "create", "--name", "browser", "--scope", "operate"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let token = text(&created.stdout).trim().to_owned();

    let server = start_server(&project);
    let api = Api::of(&project);
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).expect("the screenshots folder");
    let output = Command::new("node")
        .arg("--test-reporter=spec")
        .arg("ui.test.mjs")
        .current_dir(browser_folder())
        .env("TIDEWATER_URL", format!("http://127.0.0.1:{}", api.port))
        .env("TIDEWATER_PROJECT", project.root())
        .env("TIDEWATER_SCREENSHOTS", &screenshots)
        .env("TIDEWATER_CHROMIUM", &chromium)
        .env("TIDEWATER_TOKEN", &token)
        .output()
        .expect("node runs");
    stop_server(server);
    let report = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "the browser test failed:\n{report}\nserver log:\n{}",
        project.read("server.log")
    );
    // Node's runner ends with its counts; every scenario ran and passed.
    assert!(
        report.contains("pass 19") && report.contains("fail 0"),
        "{report}"
    );
    println!("{report}\nscreenshots: {}", screenshots.display());
}

/// Fails after writing markup to its log and to stderr, which pages must show as text.
const SHOUTY: &str = r#"
timezone: UTC
tasks:
  shout:
    sh: |
      echo '<b>bold</b>'
      echo '<i>oops</i>' >&2
      exit 3
"#;

#[test]
fn pages_escape_what_tasks_write_and_refusals_are_pages_with_the_use_cases_message() {
    let project = TestProject::new("", &[("shouty.yaml", SHOUTY)]);
    let ran = project.run(&["run", "shouty", "--date", "2026-01-01"]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran.stderr));
    let server = start_server(&project);
    let api = Api::of(&project);

    let task = api.call("GET", "/runs/1/tasks/shout", None);
    assert_eq!(task.status, 200, "{task:?}");
    assert!(task.header("content-type").starts_with("text/html"));
    let html = task.body.as_str().expect("HTML");
    assert!(html.contains("&#60;b&#62;bold&#60;/b&#62;"), "{html}");
    assert!(
        !html.contains("<b>bold</b>") && !html.contains("<i>oops</i>"),
        "{html}"
    );
    assert!(html.contains(r#"data-state="failed""#), "{html}");

    // Assets are linked by a versioned URL and cached for a year.
    let stylesheet = html
        .split("href=\"")
        .find_map(|rest| {
            rest.split('"')
                .next()
                .filter(|url| url.starts_with("/assets/tidewater.css?v="))
        })
        .expect("the page links its stylesheet with a version");
    let css = api.call("GET", stylesheet, None);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.header("cache-control").contains("immutable"));

    // Refusals: the status the API gives, the use case's message, as a page.
    let missing = api.call("GET", "/runs/999", None);
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(
        missing
            .body
            .as_str()
            .expect("HTML")
            .contains("there is no run 999")
    );
    let ended = api.call("POST", "/runs/1/cancel", None);
    assert_eq!(ended.status, 409, "{ended:?}");
    assert!(ended.body.as_str().expect("HTML").contains("run 1"));
    let bad_id = api.call("GET", "/runs/first", None);
    assert_eq!(bad_id.status, 400);
    // The API keeps its problems.
    let api_missing = api.call("GET", "/api/v1/runs/999", None);
    assert_eq!(api_missing.status, 404);
    assert_eq!(
        api_missing.header("content-type"),
        "application/problem+json"
    );
    stop_server(server);
}
