//! Connections and secrets with the real binary: values from the environment and files,
//! templates and task environments that read them, and every way a secret could leak
//! (attempt logs with what the task prints, `status`, the API, the UI, error messages, the
//! server's log) tried with a known secret that must never appear.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use crate::project::{TestProject, text};
use crate::service::{eventually, health};

/// The password, read from the environment.
const PASSWORD: &str = "Pw-7f3a9c-never-shown";
/// The API token, read from a file (with a trailing newline, which is not part of it).
const TOKEN: &str = "Tok-51d2e8-never-shown";
/// A secret written in `tidewater.toml` itself, in a URL.
const URL_PASSWORD: &str = "UrlPw-88c1";
/// An `extra` value not marked secret, whose key (`api_key`) says it is a credential.
const API_KEY: &str = "AKey-0b9e44-never-shown";

const SECRETS: [&str; 4] = [PASSWORD, TOKEN, URL_PASSWORD, API_KEY];

/// A loopback HTTP server that answers every request with `status` and `body`, and keeps
/// the requests it read.
struct Peer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(status: u16, body: &str) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let body = body.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buffer = [0; 8192];
                let read = stream.read(&mut buffer).unwrap_or(0);
                seen.lock()
                    .expect("requests")
                    .push(String::from_utf8_lossy(&buffer[..read]).into_owned());
                let response = format!(
                    "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Peer { port, requests }
    }
}

fn toml(peer_port: u16) -> String {
    format!(
        r#"
[connections.wh]
url = "postgres://tidewater:{URL_PASSWORD}@127.0.0.1:5432/postgres"
password = "env:TW_TEST_WH_PASSWORD"

[connections.api]
url = "http://127.0.0.1:{peer_port}/"
login = "bot"
extra = {{ region = "eu", token = "file:secrets/api_token", api_key = "{API_KEY}", token_endpoint = {{ value = "/oauth/token", secret = false }} }}
"#
    )
}

/// Tasks that try every way to print the secrets.
const LEAKY: &str = r#"
name: leaky
tasks:
  split:
    # The password in two writes of the task, 0.2 s apart: the log must still hide it.
    sh: |
      printf '%s' "$(printf '%s' "$PW" | cut -c1-6)"; sleep 0.2; printf '%s\n' "$(printf '%s' "$PW" | cut -c7-)"
    env: { PW: "{{ conn.wh.password }}" }
  rendered:
    # The secrets rendered into the command itself: the log's first line shows the command.
    sh: echo "pw={{ conn.wh.password }} token={{ conn.api.extra.token }} url={{ conn.wh.url }} region={{ conn.api.extra.region }} key={{ conn.api.extra.api_key }} endpoint={{ conn.api.extra.token_endpoint }}"
  output:
    sh: |
      printf '{"token": "%s"}' "$TOKEN" > "$TIDEWATER_OUTPUT"
    env: { TOKEN: "{{ conn.api.extra.token }}" }
  fails:
    needs: [split]
    sh: echo "cannot log in with $PW" >&2; exit 3
    env: { PW: "{{ conn.wh.password }}" }
  request:
    http:
      url: "{{ conn.api.url }}token/{{ conn.api.extra.token }}"
      headers: { Authorization: "Bearer {{ conn.api.extra.token }}" }
"#;

fn project(peer: &Peer) -> TestProject {
    let project = TestProject::new(&toml(peer.port), &[("leaky.yaml", LEAKY)]);
    std::fs::create_dir_all(project.path("secrets")).expect("mkdir");
    std::fs::write(project.path("secrets/api_token"), format!("{TOKEN}\n")).expect("token");
    project
}

/// Fails if any secret is in `text`, saying where.
fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
    // Half a secret is a leak too (the split task's two writes).
    assert!(
        !text.contains(&PASSWORD[6..]),
        "{what} shows part of the password:\n{text}"
    );
}

/// Every file under `folder`, as text.
fn files_text(folder: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

fn log_of(project: &TestProject, task: &str) -> String {
    files_text(&project.path(".tidewater/logs/1"))
        .into_iter()
        .find(|(path, _)| path.ends_with(&format!("/{task}.1.log")))
        .map(|(_, text)| text)
        .unwrap_or_else(|| panic!("no log of {task}"))
}

#[test]
fn no_secret_leaks_from_a_foreground_run_its_logs_status_or_errors() {
    let peer = Peer::start(500, &format!(r#"{{"error": "bad token {TOKEN}"}}"#));
    let project = project(&peer);
    let run = project
        .command(&["run", "leaky"])
        .env("TW_TEST_WH_PASSWORD", PASSWORD)
        .output()
        .expect("the binary runs");
    assert!(!run.status.success(), "`fails` and `request` fail the run");
    assert_no_secret("run's stdout", &text(&run.stdout));
    assert_no_secret("run's stderr", &text(&run.stderr));

    // The tasks did receive the real values: the peer got the token, the split task's two
    // writes were one secret, now hidden whole.
    let requests = peer.requests.lock().expect("requests").clone();
    assert!(
        requests
            .iter()
            .any(|request| request.contains(&format!("Bearer {TOKEN}"))),
        "{requests:?}"
    );
    let split = log_of(&project, "split");
    assert!(split.contains("out| ***\n"), "{split}");
    let rendered = log_of(&project, "rendered");
    assert!(
        rendered.contains(
            "pw=*** token=*** url=postgres://tidewater:***@127.0.0.1:5432/postgres region=eu \
             key=*** endpoint=/oauth/token"
        ),
        "{rendered}"
    );
    assert!(log_of(&project, "fails").contains("cannot log in with ***"));
    let request = log_of(&project, "request");
    assert!(request.contains("bad token ***"), "{request}");
    // The request line shows the URL as rendered, the token in its path hidden.
    assert!(request.contains("/token/***\n"), "{request}");

    for (path, content) in files_text(&project.path(".tidewater/logs")) {
        assert_no_secret(&path, &content);
    }
    for args in [
        &["status", "1"][..],
        &["status", "1", "--json"],
        &["runs", "--json"],
        &["logs", "1", "split"],
        &["logs", "1", "rendered"],
        &["logs", "1", "request"],
        &["connections"],
        &["connections", "--json"],
    ] {
        let output = project
            .command(args)
            .env("TW_TEST_WH_PASSWORD", PASSWORD)
            .output()
            .expect("the binary runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert_no_secret(&format!("{args:?}"), &text(&output.stdout));
        assert_no_secret(&format!("{args:?} stderr"), &text(&output.stderr));
    }
    // The output the task wrote is kept, its secret hidden.
    let status = project.status_json("1");
    let output = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|task| task["task"] == "output")
        .map(|task| task["output"].clone());
    assert_eq!(output, Some(serde_json::json!({ "token": "***" })));
}

/// The whole answer (head and body) of `GET path` from the server at `port`.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    String::from_utf8_lossy(&answer).into_owned()
}

fn start_server(project: &TestProject) -> Child {
    let child = project
        .command(&["server", "--listen", "127.0.0.1:0"])
        .env("TW_TEST_WH_PASSWORD", PASSWORD)
        // The server's own log at its most talkative: none of it may show a secret.
        .env("TIDEWATER_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(project.path("server.log")).expect("server log"),
        ))
        .spawn()
        .expect("the server starts");
    eventually("the server to record itself", || {
        health(project)["server"]
            .as_i64()
            .filter(|&pid| pid == i64::from(child.id()))
    });
    child
}

#[test]
fn no_secret_leaks_from_a_server_its_api_ui_or_log() {
    let peer = Peer::start(500, &format!(r#"{{"error": "bad token {TOKEN}"}}"#));
    let project = project(&peer);
    let mut server = start_server(&project);
    let port = eventually("the server to say where it listens", || {
        let log = std::fs::read_to_string(project.path("server.log")).ok()?;
        let (_, rest) = log.split_once("HTTP API on http://127.0.0.1:")?;
        rest.split_once('/')?.0.parse::<u16>().ok()
    });
    let triggered = project.run(&["trigger", "leaky"]);
    assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    eventually("the run to end", || {
        let answer = get(port, "/api/v1/runs/1");
        let (_, body) = answer.split_once("\r\n\r\n")?;
        let status: serde_json::Value = serde_json::from_str(body).ok()?;
        (status["run"]["state"] == "failed").then_some(())
    });
    let mut pages = vec![
        "/api/v1/runs/1".to_owned(),
        "/api/v1/runs".to_owned(),
        "/api/v1/workflows/leaky".to_owned(),
        "/api/v1/events".to_owned(),
        "/runs/1".to_owned(),
        "/workflows/leaky".to_owned(),
    ];
    for task in ["split", "rendered", "output", "fails", "request"] {
        pages.push(format!("/runs/1/tasks/{task}"));
        pages.push(format!("/api/v1/runs/1/tasks/{task}/attempts/1/log"));
    }
    for page in &pages {
        // The event stream never ends: read what it sent first.
        if page == "/api/v1/events" {
            continue;
        }
        let answer = get(port, page);
        assert!(answer.starts_with("HTTP/1.1 200"), "{page}: {answer}");
        assert_no_secret(page, &answer);
    }
    let log = get(port, "/api/v1/runs/1/tasks/split/attempts/1/log");
    assert!(log.contains("out| ***"), "{log}");
    let task_page = get(port, "/runs/1/tasks/fails");
    assert!(task_page.contains("cannot log in with ***"), "{task_page}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    assert!(server.wait().expect("the server ends").success());
    let server_log = project.read("server.log");
    assert!(
        server_log.contains("leaky run 1"),
        "the server logged the run: {server_log}"
    );
    assert_no_secret("the server's log", &server_log);
}

#[test]
fn connections_lists_where_values_come_from_and_never_a_secret() {
    let peer = Peer::start(200, "{}");
    let project = project(&peer);
    let output = project
        .command(&["connections", "--json"])
        .env("TW_TEST_WH_PASSWORD", PASSWORD)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let field = |connection: &str, name: &str| {
        listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|entry| entry["name"] == connection)
            .and_then(|entry| {
                entry["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .find(|field| field["name"] == name)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("{connection}.{name} in {listed}"))
    };
    assert_eq!(
        field("wh", "password"),
        serde_json::json!({ "name": "password", "source": "env:TW_TEST_WH_PASSWORD", "secret": true })
    );
    assert_eq!(
        field("wh", "url")["value"],
        "postgres://tidewater:***@127.0.0.1:5432/postgres"
    );
    assert_eq!(
        field("api", "extra.token")["source"],
        "file:secrets/api_token"
    );
    assert_eq!(field("api", "extra.region")["value"], "eu");
    // Secret by its key's name, not marked; and a credential-like name marked not secret.
    assert_eq!(
        field("api", "extra.api_key"),
        serde_json::json!({ "name": "extra.api_key", "source": "tidewater.toml", "secret": true })
    );
    assert_eq!(
        field("api", "extra.token_endpoint"),
        serde_json::json!({
            "name": "extra.token_endpoint",
            "source": "tidewater.toml",
            "value": "/oauth/token",
            "secret": false
        })
    );
    assert_eq!(listed[0]["kind"], "http");
    assert_eq!(listed[1]["kind"], "postgres");

    let table = project.command(&["connections"]).output().expect("runs");
    let table = text(&table.stdout);
    assert!(table.contains("CONNECTION"), "{table}");
    assert!(
        table.contains(
            "environment variable `TW_TEST_WH_PASSWORD`, which is not set (tidewater.toml:4)"
        ),
        "an unset variable is shown as such: {table}"
    );
    assert_no_secret("connections", &table);
}

#[test]
fn connections_test_makes_a_request_or_a_postgres_connection() {
    let peer = Peer::start(200, "{}");
    let project = project(&peer);
    let output = project
        .command(&["connections", "test", "api"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(said.contains("api (http): ok, answered 200 OK"), "{said}");
    assert!(
        said.contains(&format!("checked: GET http://127.0.0.1:{}/", peer.port)),
        "{said}"
    );
    let requests = peer.requests.lock().expect("requests").clone();
    assert!(
        requests
            .iter()
            .any(|request| request.to_lowercase().contains("authorization: basic")),
        "the login is sent: {requests:?}"
    );

    // PostgreSQL on 127.0.0.1:5432 (trust authentication): the start-up completes.
    let postgres = TestProject::new(
        "[connections.pg]\nurl = \"postgres://postgres@127.0.0.1:5432/postgres\"\n",
        &[],
    );
    let output = postgres
        .command(&["connections", "test", "pg", "--json"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let check: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(check["ok"], true, "{check}");
    let detail = check["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with(
            "connected and authenticated as `postgres` to database `postgres` (PostgreSQL 15"
        ),
        "{detail}"
    );

    // A database that does not exist: the server's refusal, and a failed check.
    let missing = TestProject::new(
        "[connections.pg]\nurl = \"postgres://postgres@127.0.0.1:5432/no_such_database_here\"\n",
        &[],
    );
    let output = missing
        .command(&["connections", "test", "pg"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(
        said.contains(
            "failed, the server refused: FATAL: database \"no_such_database_here\" does not exist"
        ),
        "{said}"
    );

    // Nothing listens: a failed check that says so.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("address").port();
    drop(closed);
    let refused = TestProject::new(
        &format!("[connections.down]\nurl = \"http://127.0.0.1:{closed_port}/\"\n"),
        &[],
    );
    let output = refused
        .command(&["connections", "test", "down"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("down (http): failed, no answer"));

    let output = refused
        .command(&["connections", "test", "nope"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no connection named `nope`; the project has: down"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn validate_reports_unknown_connections_and_values_that_cannot_be_read_at_their_place() {
    let workflow = r#"
name: uses
tasks:
  load:
    sh: echo {{ conn.warehouse.url }} {{ conn.wh.pasword }}
"#;
    let project = TestProject::new(
        "[connections.wh]\nhost = \"db\"\npassword = \"env:TW_TEST_UNSET_VARIABLE\"\n\
         login = \"file:secrets/missing\"\n",
        &[("uses.yaml", workflow)],
    );
    let output = project.run(&["validate"]);
    assert!(!output.status.success());
    let said = text(&output.stderr);
    for expected in [
        "`conn.warehouse` refers to no connection of `tidewater.toml`",
        "uses.yaml:5:17",
        "connections of this project: wh",
        "connection `wh` has no `pasword`",
        "did you mean `password`?",
        // (The messages are wrapped at the terminal's width: their parts are checked.)
        "connection `wh`: `password` comes from the environment variable",
        "tidewater.toml:3:12",
        "connection `wh`: `login` comes from the file `secrets/missing`, which cannot be read",
        "tidewater.toml:4:9",
    ] {
        assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
    }

    let bad_kind = TestProject::new("[connections.wh]\nkind = \"postgress\"\n", &[]);
    let said = text(&bad_kind.run(&["validate"]).stderr);
    assert!(said.contains("`postgress` is not a valid `kind`"), "{said}");
    assert!(said.contains("did you mean `postgres`?"), "{said}");
    assert!(said.contains("tidewater.toml:2:8"), "{said}");
}

#[test]
fn a_task_that_reads_an_unset_variable_fails_saying_which_and_where() {
    let workflow = r#"
name: needs_password
tasks:
  load:
    sh: echo connecting
    env: { PGPASSWORD: "{{ conn.wh.password }}" }
"#;
    let project = TestProject::new(
        "[connections.wh]\nhost = \"db\"\npassword = \"env:TW_TEST_UNSET_VARIABLE\"\n",
        &[("needs_password.yaml", workflow)],
    );
    let output = project.run(&["run", "needs_password"]);
    assert!(!output.status.success());
    let status = project.status_json("1");
    let reason = status["tasks"][0]["attempts"][0]["reason"].to_string();
    assert!(
        reason.contains("could not start: cannot render `env.PGPASSWORD`: cannot render template: connection `wh`: `password` comes from the environment variable `TW_TEST_UNSET_VARIABLE`, which is not set (tidewater.toml:3)"),
        "{status}"
    );
}

/// A PostgreSQL cluster of its own, on a free loopback port, that asks for SCRAM-SHA-256
/// passwords (the machine's server trusts loopback, so it never asks for one): made with the
/// installed PostgreSQL's `initdb` and run as the `postgres` user, which PostgreSQL requires
/// when the tests run as root (as CI's do). Stopped when dropped.
struct ScramCluster {
    folder: tempfile::TempDir,
    port: u16,
    server: Child,
}

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Whether this process runs as root: `/proc/self` belongs to the process's user.
fn is_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("/proc/self")) == 0
}

impl ScramCluster {
    fn start(password: &str) -> ScramCluster {
        let folder = tempfile::tempdir().expect("temporary folder");
        let run_as_postgres = |program: &str| {
            let mut command = if is_root() {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", "postgres", "--", &format!("{POSTGRES_BIN}/{program}")]);
                command
            } else {
                std::process::Command::new(format!("{POSTGRES_BIN}/{program}"))
            };
            command.stdout(Stdio::null()).stderr(Stdio::piped());
            command
        };
        if is_root() {
            std::process::Command::new("chown")
                .args(["postgres"])
                .arg(folder.path())
                .status()
                .expect("chown runs");
        }
        let password_file = folder.path().join("password");
        std::fs::write(&password_file, format!("{password}\n")).expect("written");
        std::fs::set_permissions(
            &password_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .expect("readable");
        let data = folder.path().join("data");
        let initdb = run_as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "tw", "--auth=scram-sha-256", "--pwfile"])
            .arg(&password_file)
            .output()
            .expect("initdb runs (PostgreSQL 15 is installed)");
        assert!(initdb.status.success(), "{}", text(&initdb.stderr));
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let server = run_as_postgres("postgres")
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(folder.path())
            .spawn()
            .expect("postgres starts");
        let cluster = ScramCluster {
            folder,
            port,
            server,
        };
        // An open port is not enough: while it starts up, the server answers "the database
        // system is starting up". `pg_isready` succeeds only once it accepts connections.
        eventually("the private PostgreSQL to accept connections", || {
            std::process::Command::new(format!("{POSTGRES_BIN}/pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .ok()
                .filter(|status| status.success())
                .map(|_| ())
        });
        cluster
    }
}

impl Drop for ScramCluster {
    fn drop(&mut self) {
        // Immediate shutdown: SIGQUIT to the postmaster (its pid is the first line of
        // `postmaster.pid`; the child here may be `runuser`, which does not pass it on) ends
        // every backend at once, and `runuser` with it.
        let postmaster = std::fs::read_to_string(self.folder.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok());
        for pid in postmaster.into_iter().chain([self.server.id() as i32]) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGQUIT,
            );
        }
        let _ = self.server.wait();
    }
}

#[test]
fn connections_test_authenticates_with_scram_and_reports_a_wrong_password() {
    let cluster = ScramCluster::start("scram-secret-7");
    let project = TestProject::new(
        &format!(
            "[connections.good]\nurl = \"postgres://tw:scram-secret-7@127.0.0.1:{port}/postgres\"\n\
             [connections.bad]\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\nlogin = \"tw\"\n\
             password = \"wrong-secret-9\"\nextra = {{ database = \"postgres\" }}\n",
            port = cluster.port
        ),
        &[],
    );
    let good = project
        .command(&["connections", "test", "good"])
        .output()
        .expect("runs");
    let said = text(&good.stdout);
    assert!(good.status.success(), "{said}{}", text(&good.stderr));
    assert!(
        said.contains(
            "good (postgres): ok, connected and authenticated as `tw` to database `postgres`"
        ),
        "{said}"
    );

    let bad = project
        .command(&["connections", "test", "bad"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let said = text(&bad.stdout);
    assert!(
        said.contains(
            "bad (postgres): failed, the server refused: FATAL: password authentication failed for user \"tw\""
        ),
        "{said}"
    );
    for output in [&good, &bad] {
        let everything = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(
            !everything.contains("scram-secret-7") && !everything.contains("wrong-secret-9"),
            "{everything}"
        );
    }
}
