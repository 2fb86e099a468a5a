//! Tokens and sessions with the real binary over loopback: `tidewater token`, the API's 401
//! and 403 answers, the UI's session cookie and its origin check, and no secret in any log or
//! listing.

use std::process::{Child, Stdio};

use serde_json::{Value, json};

use crate::api_client::{Answer, Api};
use crate::project::{TestProject, text};
use crate::service::{eventually, health, stop_server};

const MANUAL: &str = r#"
timezone: UTC
tasks:
  hello:
    sh: echo hello
"#;

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

/// `tidewater server` with its log as verbose as it gets, so that a secret logged at any
/// level would be found in server.log.
fn start_verbose_server(project: &TestProject, log: &str) -> Child {
    let child = project
        .command(&["server", "--listen", "127.0.0.1:0"])
        .env("TIDEWATER_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(project.path(log))
                .expect("server log"),
        ))
        .spawn()
        .expect("server starts");
    eventually("the server to record itself", || {
        health(project)["server"]
            .as_i64()
            .filter(|&pid| pid == i64::from(child.id()))
    });
    child
}

/// Creates a token; only it is printed on stdout.
fn create_token(project: &TestProject, name: &str, scope: &str) -> String {
    let output = project.run(&["token", "create", "--name", name, "--scope", scope]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let token = stdout.strip_suffix('\n').expect("one line").to_owned();
    assert!(
        token.len() == 67
            && token.starts_with("tw_")
            && token[3..]
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)),
        "only the token on stdout: {stdout:?}"
    );
    assert!(text(&output.stderr).contains(&format!("token {name} ({scope}) created")));
    token
}

fn trigger_body(days: i64) -> String {
    json!({"date": days_ago(days)}).to_string()
}

/// The session id a `Set-Cookie` answer sets, after checking the cookie's attributes.
fn session_cookie(answer: &Answer) -> String {
    let cookie = answer.header("set-cookie");
    let mut parts = cookie.split(';').map(str::trim);
    let (name, value) = parts
        .next()
        .and_then(|pair| pair.split_once('='))
        .expect("a cookie");
    assert_eq!(name, "tidewater_session", "{cookie}");
    let attributes: Vec<&str> = parts.collect();
    for expected in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&expected), "{expected} in {cookie}");
    }
    // Plain HTTP: a `Secure` cookie would never come back.
    assert!(
        !attributes
            .iter()
            .any(|attribute| attribute.eq_ignore_ascii_case("secure")),
        "{cookie}"
    );
    assert!(value.len() >= 64, "a random id: {cookie}");
    value.to_owned()
}

fn assert_unauthorized(api: &Api, answer: &Answer, detail: &str) {
    api.problem(answer, 401, detail);
    assert!(
        answer.header("www-authenticate").starts_with("Bearer"),
        "{answer:?}"
    );
}

#[test]
fn tokens_guard_the_api_by_scope_and_the_ui_by_a_session_checked_for_its_origin() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    let mut server = start_verbose_server(&project, "server.log");
    let api = api_of(&project, "server.log");
    let origin = format!("http://127.0.0.1:{}", api.port);

    // No token yet: open, as before tokens (loopback only).
    assert_eq!(api.get("/api/v1/workflows").status, 200);
    let listed = project.run(&["token", "list"]);
    assert!(text(&listed.stderr).contains("no tokens"), "{listed:?}");

    let reader = create_token(&project, "dashboard", "read");
    let operator = create_token(&project, "deploy", "operate");
    assert_ne!(reader, operator);

    // No token, a wrong one, a malformed header: 401 with the challenge.
    assert_unauthorized(&api, &api.get("/api/v1/workflows"), "needs a token");
    assert_unauthorized(&api, &api.get("/api/v1/openapi.json"), "needs a token");
    api.token.replace(Some(format!("tw_{}", "0".repeat(64))));
    assert_unauthorized(&api, &api.get("/api/v1/runs"), "unknown or revoked");
    api.token.replace(None);
    let basic = api.call_with(
        "GET",
        "/api/v1/runs",
        None,
        &[("Authorization", "Basic eDp5")],
    );
    assert_unauthorized(&api, &basic, "must be `Bearer TOKEN`");

    // A read token reads, and may not change anything: 403, nothing recorded.
    api.token.replace(Some(reader.clone()));
    assert_eq!(api.get("/api/v1/workflows").status, 200);
    let refused = api.call(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(2)),
    );
    api.problem(&refused, 403, "scope operate");
    assert_eq!(crate::service::runs(&project), Vec::<Value>::new());

    // An operate token acts.
    api.token.replace(Some(operator.clone()));
    let created = api.call(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(2)),
    );
    assert_eq!(created.status, 201, "{created:?}");
    api.token.replace(None);

    // The UI: a page without a session goes to the login page, which is open, as are the
    // assets (a missing one is a 404, not a 401).
    let page = api.call("GET", "/grid/manual?runs=25", None);
    assert_eq!(page.status, 303, "{page:?}");
    assert_eq!(
        page.header("location"),
        "/login?next=/grid/manual%3Fruns%3D25"
    );
    let login_page = api.call("GET", "/login?next=/grid/manual", None);
    assert_eq!(login_page.status, 200, "{login_page:?}");
    assert!(login_page.header("content-type").starts_with("text/html"));
    assert!(
        login_page.body.as_str().is_some_and(
            |html| html.contains("name=\"token\"") && html.contains("value=\"/grid/manual\"")
        ),
        "{login_page:?}"
    );
    assert_eq!(api.call("GET", "/assets/none.js", None).status, 404);

    // Logging in with JSON: the cookie, with its flags, holds a session id, not the token.
    let opened = api.call(
        "POST",
        "/api/v1/session",
        Some(&json!({"token": operator}).to_string()),
    );
    assert_eq!(opened.status, 201, "{opened:?}");
    assert_eq!(opened.body["token"], "deploy");
    assert_eq!(opened.body["scope"], "operate");
    let session = session_cookie(&opened);
    assert!(!operator.contains(&session) && !session.contains(&operator[3..]));
    let wrong = api.call(
        "POST",
        "/api/v1/session",
        Some(&json!({"token": "tw_nope"}).to_string()),
    );
    assert_unauthorized(&api, &wrong, "unknown or revoked");

    // The cookie reads; it changes state only from this server's own origin.
    let cookie = format!("tidewater_session={session}");
    let with_cookie = |method: &str, path: &str, body: Option<&str>, extra: &[(&str, &str)]| {
        let mut headers = vec![("Cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        api.call_with(method, path, body, &headers)
    };
    let runs = with_cookie("GET", "/api/v1/runs", None, &[]);
    assert_eq!(runs.status, 200, "{runs:?}");
    assert_eq!(runs.body["runs"].as_array().map(Vec::len), Some(1));
    let runs_before = crate::service::runs(&project).len();
    let no_origin = with_cookie(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(3)),
        &[],
    );
    api.problem(&no_origin, 403, "Origin");
    let foreign = with_cookie(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(3)),
        &[("Origin", "http://evil.example")],
    );
    api.problem(&foreign, 403, "Origin");
    let foreign_referer = with_cookie(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(3)),
        &[("Referer", "http://evil.example/page")],
    );
    api.problem(&foreign_referer, 403, "Origin");
    assert_eq!(
        crate::service::runs(&project).len(),
        runs_before,
        "nothing recorded"
    );
    let same_origin = with_cookie(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(3)),
        &[("Origin", &origin)],
    );
    assert_eq!(same_origin.status, 201, "{same_origin:?}");
    let same_referer = with_cookie(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(4)),
        &[("Referer", &format!("{origin}/workflows"))],
    );
    assert_eq!(same_referer.status, 201, "{same_referer:?}");

    // Logging in with the form: to `next`, with a cookie; a refused token back to the form.
    let form = |body: String, extra: &[(&str, &str)]| {
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        headers.extend_from_slice(extra);
        api.call_with("POST", "/login", Some(&body), &headers)
    };
    let logged_in = form(
        format!("token={reader}&next=%2Fgrid%2Fmanual"),
        &[("Origin", &origin)],
    );
    assert_eq!(logged_in.status, 303, "{logged_in:?}");
    assert_eq!(logged_in.header("location"), "/grid/manual");
    let reader_session = session_cookie(&logged_in);
    let reader_cookie = format!("tidewater_session={reader_session}");
    let read_only = api.call_with(
        "POST",
        "/api/v1/workflows/manual/runs",
        Some(&trigger_body(5)),
        &[("Cookie", &reader_cookie), ("Origin", &origin)],
    );
    api.problem(&read_only, 403, "scope operate");
    let refused_login = form("token=tw_wrong&next=%2Fgrid".to_owned(), &[]);
    assert_eq!(refused_login.status, 303, "{refused_login:?}");
    assert_eq!(
        refused_login.header("location"),
        "/login?failed=1&next=/grid"
    );
    assert_eq!(refused_login.header("set-cookie"), "");
    let open_redirect = form(format!("token={reader}&next=%2F%2Fevil.example"), &[]);
    assert_eq!(open_redirect.header("location"), "/");
    let cross_site = form(
        format!("token={reader}"),
        &[("Origin", "http://evil.example")],
    );
    api.problem(&cross_site, 403, "login page");

    // Sessions are in the store: a restarted server knows them.
    stop_server(server);
    server = start_verbose_server(&project, "restarted.log");
    let api = api_of(&project, "restarted.log");
    let cookie_get = |cookie: &str| {
        api.call_with("GET", "/api/v1/runs", None, &[("Cookie", cookie)])
            .status
    };
    assert_eq!(cookie_get(&cookie), 200);
    assert_eq!(cookie_get(&reader_cookie), 200);

    // Logging out ends the session (only from this server's pages).
    let foreign_logout = api.call_with(
        "POST",
        "/logout",
        None,
        &[
            ("Cookie", &reader_cookie),
            ("Origin", "http://evil.example"),
        ],
    );
    api.problem(&foreign_logout, 403, "Origin");
    assert_eq!(cookie_get(&reader_cookie), 200);
    let logged_out = api.call_with(
        "POST",
        "/logout",
        None,
        &[("Cookie", &reader_cookie), ("Origin", &api_origin(&api))],
    );
    assert_eq!(logged_out.status, 303, "{logged_out:?}");
    assert_eq!(logged_out.header("location"), "/login");
    assert!(logged_out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(cookie_get(&reader_cookie), 401);
    assert_eq!(
        api.call_with("GET", "/workflows", None, &[("Cookie", &reader_cookie)])
            .status,
        303,
        "a page goes to the login page again"
    );

    // Revoking the token ends its sessions and the token itself.
    assert_eq!(cookie_get(&cookie), 200);
    let revoked = project.run(&["token", "revoke", "deploy"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert_eq!(cookie_get(&cookie), 401);
    api.token.replace(Some(operator.clone()));
    assert_unauthorized(&api, &api.get("/api/v1/runs"), "unknown or revoked");
    api.token.replace(Some(reader.clone()));
    assert_eq!(
        api.get("/api/v1/runs").status,
        200,
        "other tokens still work"
    );

    // No secret in the listing, however it is printed.
    let list = project.run(&["token", "list"]);
    let list_json = project.run(&["token", "list", "--json"]);
    let table = text(&list.stdout);
    assert!(
        table.contains("dashboard") && table.contains("deploy"),
        "{table}"
    );
    let tokens: Value = serde_json::from_slice(&list_json.stdout).expect("JSON");
    assert_eq!(tokens[0]["name"], "dashboard");
    assert_eq!(tokens[0]["scope"], "read");
    assert_eq!(tokens[0]["revoked_at"], Value::Null);
    assert!(tokens[0]["last_used_at"].is_string(), "{tokens}");
    assert_eq!(tokens[1]["name"], "deploy");
    assert!(tokens[1]["revoked_at"].is_string(), "{tokens}");

    stop_server(server);
    // Nor in the server's log (at its most verbose), nor in any listing.
    let log = project.read("server.log") + &project.read("restarted.log");
    assert!(log.contains("HTTP API on"), "{log}");
    for secret in [&reader, &operator, &session, &reader_session] {
        for output in [&log, &table, &text(&list_json.stdout)] {
            assert!(
                !output.contains(secret.as_str()),
                "a secret leaked: {output}"
            );
        }
        assert!(
            !log.contains(&secret[secret.len() - 16..]),
            "part of a secret in {log}"
        );
    }
}

#[test]
fn an_admin_token_manages_tokens_through_the_api_and_no_smaller_scope_does() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    let server = start_verbose_server(&project, "server.log");
    let api = api_of(&project, "server.log");
    let admin = create_token(&project, "root", "admin");
    let operator = create_token(&project, "ops", "operate");

    api.token.replace(Some(operator.clone()));
    api.problem(&api.get("/api/v1/tokens"), 403, "scope admin");
    let refused = api.ask(
        "POST",
        "/api/v1/tokens",
        "/api/v1/tokens",
        Some(&json!({"name": "sneaky", "scope": "admin"}).to_string()),
    );
    api.problem(&refused, 403, "scope admin");

    api.token.replace(Some(admin.clone()));
    let created = api.ask(
        "POST",
        "/api/v1/tokens",
        "/api/v1/tokens",
        Some(&json!({"name": "ci", "scope": "read"}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["name"], "ci");
    assert_eq!(created.body["scope"], "read");
    let token = created.body["token"]
        .as_str()
        .expect("the token")
        .to_owned();
    assert!(token.starts_with("tw_"), "{created:?}");
    let bad_scope = api.call(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "x", "scope": "root"}).to_string()),
    );
    api.problem(&bad_scope, 422, "not a scope");
    let taken = api.call(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "ci", "scope": "read"}).to_string()),
    );
    api.problem(&taken, 409, "a token named ci exists");
    let listed = api.get("/api/v1/tokens");
    assert_eq!(listed.status, 200, "{listed:?}");
    let names: Vec<&str> = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|token| token["name"].as_str())
        .collect();
    assert_eq!(names, ["root", "ops", "ci"]);
    assert!(
        !listed.body.to_string().contains(&token[3..]),
        "no secret listed"
    );

    // The new token works until an admin revokes it.
    api.token.replace(Some(token.clone()));
    assert_eq!(api.get("/api/v1/runs").status, 200);
    api.token.replace(Some(admin.clone()));
    let revoked = api.ask("DELETE", "/api/v1/tokens/{name}", "/api/v1/tokens/ci", None);
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert!(revoked.body["revoked_at"].is_string(), "{revoked:?}");
    api.problem(
        &api.call("DELETE", "/api/v1/tokens/ci", None),
        404,
        "no unrevoked token named ci",
    );
    api.token.replace(Some(token.clone()));
    api.problem(&api.get("/api/v1/runs"), 401, "unknown or revoked");

    stop_server(server);
    let log = project.read("server.log");
    for secret in [&admin, &operator, &token] {
        assert!(!log.contains(&secret[3..]), "a secret leaked: {log}");
    }
}

#[test]
fn token_commands_refuse_bad_names_duplicates_and_unknown_tokens() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    create_token(&project, "ci", "admin");
    let duplicate = project.run(&["token", "create", "--name", "ci", "--scope", "read"]);
    assert!(!duplicate.status.success());
    assert!(
        text(&duplicate.stderr).contains("a token named ci exists"),
        "{duplicate:?}"
    );
    assert!(duplicate.stdout.is_empty());
    let bad_name = project.run(&["token", "create", "--name", "a b", "--scope", "read"]);
    assert!(!bad_name.status.success());
    assert!(
        text(&bad_name.stderr).contains("is not a token name"),
        "{bad_name:?}"
    );
    let bad_scope = project.run(&["token", "create", "--name", "x", "--scope", "root"]);
    assert!(!bad_scope.status.success());
    assert!(
        text(&bad_scope.stderr).contains("read, operate, admin"),
        "{bad_scope:?}"
    );
    let unknown = project.run(&["token", "revoke", "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("there is no unrevoked token named nobody"),
        "{unknown:?}"
    );
    // Revoked, the name may be given again.
    assert!(project.run(&["token", "revoke", "ci"]).status.success());
    create_token(&project, "ci", "read");
    let tokens: Value =
        serde_json::from_slice(&project.run(&["token", "list", "--json"]).stdout).expect("JSON");
    assert_eq!(tokens.as_array().map(Vec::len), Some(2));
}

/// Tokens are stored hashed: the store's files hold the token's name but not its secret,
/// so a copy of the database grants nothing.
#[test]
fn the_store_keeps_a_tokens_hash_never_its_secret() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    let token = create_token(&project, "stored-hashed", "operate");
    let secret = &token.as_bytes()[3..];
    let mut files = 0;
    let mut has_name = false;
    for entry in std::fs::read_dir(project.path(".tidewater")).expect("the store's folder") {
        let path = entry.expect("an entry").path();
        let is_store_file = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("tidewater.db"));
        if !is_store_file {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).expect("read a store file");
        has_name |= bytes
            .windows(b"stored-hashed".len())
            .any(|window| window == b"stored-hashed");
        assert!(
            !bytes.windows(secret.len()).any(|window| window == secret),
            "the secret is in {}",
            path.display()
        );
    }
    assert!(files > 0, "the store's files were read");
    assert!(has_name, "the token's record is in the files read");
}

#[test]
fn the_server_stays_on_loopback_while_every_token_is_revoked() {
    let project = TestProject::new("", &[("manual.yaml", MANUAL)]);
    create_token(&project, "gone", "read");
    assert!(project.run(&["token", "revoke", "gone"]).status.success());
    let output = project.run(&["server", "--listen", "0.0.0.0:0"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("is not a loopback address, and the HTTP API has no valid token"),
        "{stderr}"
    );
    assert!(stderr.contains("tidewater token create"), "{stderr}");
    assert_eq!(
        health(&project)["server"],
        Value::Null,
        "nothing was claimed"
    );
}

/// The API of the server whose log is `log`.
fn api_of(project: &TestProject, log: &str) -> Api {
    let port = eventually("the server to say where its API listens", || {
        let log = std::fs::read_to_string(project.path(log)).ok()?;
        let (_, rest) = log.split_once("HTTP API on http://127.0.0.1:")?;
        rest.split_once('/')?.0.parse::<u16>().ok()
    });
    Api {
        port,
        asked: Default::default(),
        token: Default::default(),
    }
}

fn api_origin(api: &Api) -> String {
    format!("http://127.0.0.1:{}", api.port)
}
