//! Opening a PostgreSQL store: migrations on open, concurrent opens, and errors that say
//! what is wrong without a password.

use tidewater_postgres::{PostgresLocation, PostgresStore};
use tidewater_store::{RunStore, Store};

use crate::fixtures::{SchemaGuard, fresh_schema, location, new_run, open_in, test_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_a_new_schema_at_once_migrate_it_once() {
    let guard = SchemaGuard(fresh_schema("open_race"));
    let schema = guard.0.clone();
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let location = location(&schema);
            tokio::spawn(async move { PostgresStore::open(&location).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.expect("an open finished").expect("open"));
    }
    let run = stores[0]
        .create_run(new_run("shared", &["task"]))
        .await
        .expect("create_run");
    for store in &stores {
        assert_eq!(
            store.run(run.id).await.expect("run").map(|run| run.id),
            Some(run.id)
        );
    }
    // Reopening finds the schema up to date and keeps its runs.
    let reopened = open_in(&schema).await;
    assert_eq!(
        reopened.highest_run_id().await.expect("highest"),
        Some(run.id)
    );
    drop(guard);
}

#[tokio::test]
async fn run_ids_are_skipped_past_and_never_lowered() {
    let guard = SchemaGuard(fresh_schema("run_ids"));
    let schema = guard.0.clone();
    let store = open_in(&schema).await;
    assert_eq!(store.highest_run_id().await.expect("highest"), None);
    store
        .skip_run_ids_through(tidewater_core::RunId(41))
        .await
        .expect("skip");
    store
        .skip_run_ids_through(tidewater_core::RunId(5))
        .await
        .expect("skip lower");
    let run = store
        .create_run(new_run("after_skip", &["task"]))
        .await
        .expect("create_run");
    assert_eq!(run.id, tidewater_core::RunId(42));
    drop(guard);
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    // A port nothing listens on (a listener bound, then closed).
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let error = PostgresStore::open(&PostgresLocation {
        url: format!("postgres://tidewater:hunter2-in-url@127.0.0.1:{port}/tidewater"),
        password: Some("hunter2-given".to_owned()),
        schema: None,
    })
    .await
    .err()
    .expect("nothing listens there");
    let message = error.to_string();
    assert!(
        message.contains(&format!("tidewater@127.0.0.1:{port}/tidewater")),
        "{message}"
    );
    assert!(message.contains("cannot reach"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_refused_login_is_the_servers_reason_without_the_password() {
    // A role that does not exist: the trust cluster refuses it by name.
    let url = test_url().replacen("postgres@", "no_such_role:hunter2@", 1);
    let error = PostgresStore::open(&PostgresLocation {
        url,
        password: None,
        schema: None,
    })
    .await
    .err()
    .expect("the role does not exist");
    let message = error.to_string();
    assert!(message.contains("no_such_role"), "{message}");
    assert!(message.contains("the server refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_schema_name_that_would_need_quoting_is_refused() {
    let error = PostgresStore::open(&location("Robert'); DROP TABLE runs; --"))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("not a plain identifier"),
        "{error}"
    );
}
