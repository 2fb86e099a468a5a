//! Behaviours of [`StreamStore`]: one owner per stream, a compare-and-set, and the committed
//! batches summed per stream, a pause, and the server's last failure.

use chrono::TimeZone;
use tidewater_core::{ProcessIdentity, Timestamp};

use crate::{StreamCommitRecord, StreamFailure, StreamOwnerClaim, StreamStore};

fn at(second: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 7, 9, 0, second)
        .single()
        .expect("a valid time")
}

const FIRST: ProcessIdentity = ProcessIdentity {
    pid: 100,
    start_ticks: 7,
};
const SECOND: ProcessIdentity = ProcessIdentity {
    pid: 200,
    start_ticks: 9,
};

pub async fn a_stream_has_one_owner_claimed_by_compare_and_set<S: StreamStore + ?Sized>(store: &S) {
    assert_eq!(
        store
            .claim_stream_owner("orders_live", None, Some(FIRST), at(0))
            .await
            .expect("claim"),
        StreamOwnerClaim::Claimed,
        "a new stream has no owner"
    );
    assert_eq!(
        store
            .claim_stream_owner("orders_live", None, Some(SECOND), at(1))
            .await
            .expect("claim"),
        StreamOwnerClaim::Held(Some(FIRST)),
        "a second claimer is told who owns it"
    );
    assert_eq!(
        store
            .claim_stream_owner("other_stream", None, Some(SECOND), at(1))
            .await
            .expect("claim"),
        StreamOwnerClaim::Claimed,
        "owners are per stream"
    );
    // Taking over from a dead owner names it as expected.
    assert_eq!(
        store
            .claim_stream_owner("orders_live", Some(FIRST), Some(SECOND), at(2))
            .await
            .expect("claim"),
        StreamOwnerClaim::Claimed
    );
    assert_eq!(
        store
            .claim_stream_owner("orders_live", Some(SECOND), None, at(3))
            .await
            .expect("release"),
        StreamOwnerClaim::Claimed
    );
    let records = store.stream_records().await.expect("stream_records");
    let names: Vec<&str> = records.iter().map(|record| record.name.as_str()).collect();
    assert_eq!(names, ["orders_live", "other_stream"]);
    assert_eq!(records[0].owner, None, "released");
    assert_eq!(records[1].owner, Some(SECOND));
    assert_eq!(records[1].claimed_at, Some(at(1)));
}

pub async fn committed_batches_are_recorded_and_summed_per_stream<S: StreamStore + ?Sized>(
    store: &S,
) {
    store
        .claim_stream_owner("orders_live", None, Some(FIRST), at(0))
        .await
        .expect("claim");
    let first = StreamCommitRecord {
        at: at(1),
        position: 10,
        table_version: 0,
        messages: 10,
        dead_letters: 2,
        rate: 10.0,
    };
    let second = StreamCommitRecord {
        at: at(2),
        position: 15,
        table_version: 1,
        messages: 5,
        dead_letters: 0,
        rate: 5.5,
    };
    store
        .record_stream_commit("orders_live", &first)
        .await
        .expect("record");
    store
        .record_stream_commit("orders_live", &second)
        .await
        .expect("record");
    let records = store.stream_records().await.expect("stream_records");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.last_commit.as_ref(), Some(&second));
    assert_eq!(record.messages_total, 15);
    assert_eq!(record.dead_letters_total, 2);
    assert_eq!(record.owner, Some(FIRST), "a commit leaves the owner alone");
}

pub async fn a_paused_stream_stays_paused_until_resumed<S: StreamStore + ?Sized>(store: &S) {
    assert!(
        store
            .set_stream_paused("orders_live", true, at(0))
            .await
            .expect("pause"),
        "a stream never seen before can be paused"
    );
    assert!(
        !store
            .set_stream_paused("orders_live", true, at(1))
            .await
            .expect("pause"),
        "pausing a paused stream changes nothing"
    );
    store
        .claim_stream_owner("orders_live", None, Some(FIRST), at(2))
        .await
        .expect("claim");
    let records = store.stream_records().await.expect("stream_records");
    assert!(records[0].is_paused, "claiming leaves the pause alone");
    assert!(
        store
            .set_stream_paused("orders_live", false, at(3))
            .await
            .expect("resume")
    );
    let records = store.stream_records().await.expect("stream_records");
    assert!(!records[0].is_paused);
    assert_eq!(
        records[0].owner,
        Some(FIRST),
        "pausing leaves the owner alone"
    );
}

pub async fn a_failure_is_recorded_until_cleared<S: StreamStore + ?Sized>(store: &S) {
    let failure = StreamFailure {
        at: at(1),
        reason: "cannot reach NATS at nats://127.0.0.1:1: connection refused".to_owned(),
        retry_at: at(3),
    };
    store
        .record_stream_failure("orders_live", Some(&failure))
        .await
        .expect("record");
    let records = store.stream_records().await.expect("stream_records");
    assert_eq!(records[0].failure.as_ref(), Some(&failure));
    assert!(!records[0].is_paused);
    store
        .record_stream_failure("orders_live", None)
        .await
        .expect("clear");
    let records = store.stream_records().await.expect("stream_records");
    assert_eq!(records[0].failure, None);
}
