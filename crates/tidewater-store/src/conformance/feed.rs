//! Behaviours of the change feed: every state change `create_run` and `apply` record is one
//! event, in commit order, with nothing for a change that keeps a state or a write that fails.

use tidewater_core::{
    Attempt, AttemptOutcome, Change, FailureClass, FailureReason, ProcessIdentity, RunId, RunState,
    RunStateKind, TaskInstance, TaskName, TaskState, TaskStateKind, WorkflowName,
};

use crate::{
    AttemptStep, ControlStore, EventFilter, EventPage, EventSeq, FeedChange, FeedEvent, RunStore,
};

use super::fixtures::{instant, new_run, task_change};

/// Every event after `after` (matching `filter`), and how far the page read.
async fn events<S: ControlStore + ?Sized>(
    store: &S,
    after: EventSeq,
    filter: &EventFilter,
) -> (Vec<FeedEvent>, EventSeq) {
    match store
        .events_after(after, filter, 1000)
        .await
        .expect("events_after")
    {
        EventPage::Events { events, through } => (events, through),
        EventPage::Reset { latest } => panic!("a reset (latest {latest}) where events were kept"),
    }
}

/// The changes of events, without their sequence numbers.
fn changes(events: &[FeedEvent]) -> Vec<(RunId, &str, FeedChange)> {
    events
        .iter()
        .map(|event| (event.run, event.workflow.as_str(), event.change.clone()))
        .collect()
}

fn task(name: &str, state: TaskStateKind) -> FeedChange {
    FeedChange::Task {
        task: TaskName::new(name),
        state,
    }
}

fn attempt(name: &str, number: u32, step: AttemptStep) -> FeedChange {
    FeedChange::Attempt {
        task: TaskName::new(name),
        attempt: Attempt(number),
        step,
    }
}

/// A run's life as the engine writes it: each state change is one event, in the order the
/// batches were committed; within a batch the run starts first, attempts end before tasks
/// change, tasks change before attempts start, and the run ends last.
pub async fn every_state_change_is_one_event_in_commit_order<S>(store: &S)
where
    S: RunStore + ControlStore + ?Sized,
{
    let start = store.last_event().await.expect("last_event");
    let run = store
        .create_run(new_run("feed", &["a", "b"]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let running = |number: u32| TaskInstance {
        state: TaskState::Running {
            attempt: Attempt(number),
            started_at: at,
        },
        last_attempt: number,
        ..TaskInstance::new()
    };
    let batches = [
        vec![
            task_change(
                "a",
                TaskInstance {
                    state: TaskState::Queued {
                        attempt: Attempt(1),
                        since: at,
                    },
                    ..TaskInstance::new()
                },
            ),
            Change::Run(RunState::Running { started_at: at }),
        ],
        vec![
            task_change("a", running(1)),
            Change::AttemptStarted {
                task: TaskName::new("a"),
                attempt: Attempt(1),
                started_at: at,
            },
            Change::AttemptProcess {
                task: TaskName::new("a"),
                attempt: Attempt(1),
                process: ProcessIdentity {
                    pid: 42,
                    start_ticks: 7,
                },
            },
        ],
        vec![
            Change::Run(RunState::Failed {
                started_at: at,
                finished_at: at,
            }),
            Change::AttemptFinished {
                task: TaskName::new("a"),
                attempt: Attempt(1),
                finished_at: at,
                outcome: AttemptOutcome::Failed {
                    reason: FailureReason::TimedOut,
                },
            },
            task_change(
                "a",
                TaskInstance {
                    state: TaskState::Failed {
                        attempt: Attempt(1),
                        finished_at: at,
                    },
                    last_attempt: 1,
                    ..TaskInstance::new()
                },
            ),
            task_change(
                "b",
                TaskInstance {
                    state: TaskState::UpstreamFailed,
                    ..TaskInstance::new()
                },
            ),
        ],
    ];
    for batch in &batches {
        store.apply(run.id, batch).await.expect("apply");
    }

    let (events, through) = events(store, start, &EventFilter::default()).await;
    let id = run.id;
    assert_eq!(
        changes(&events),
        [
            (id, "feed", FeedChange::Run(RunStateKind::Queued)),
            (id, "feed", FeedChange::Run(RunStateKind::Running)),
            (id, "feed", task("a", TaskStateKind::Queued)),
            (id, "feed", task("a", TaskStateKind::Running)),
            (id, "feed", attempt("a", 1, AttemptStep::Started)),
            (
                id,
                "feed",
                attempt("a", 1, AttemptStep::Failed(FailureClass::Timeout))
            ),
            (id, "feed", task("a", TaskStateKind::Failed)),
            (id, "feed", task("b", TaskStateKind::UpstreamFailed)),
            (id, "feed", FeedChange::Run(RunStateKind::Failed)),
        ]
    );
    let seqs: Vec<EventSeq> = events.iter().map(|event| event.seq).collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "sequence numbers increase: {seqs:?}"
    );
    assert_eq!(Some(&through), seqs.last());
    assert_eq!(store.last_event().await.expect("last_event"), through);

    // Resuming after any event gives exactly the rest.
    let (rest, _) = events_after_each(store, seqs[3]).await;
    assert_eq!(rest, events[4..]);
}

async fn events_after_each<S: ControlStore + ?Sized>(
    store: &S,
    after: EventSeq,
) -> (Vec<FeedEvent>, EventSeq) {
    events(store, after, &EventFilter::default()).await
}

/// A change that leaves a state as it was (a task's output, an attempt's process, a run
/// running again after a reset), and a batch that fails, record no event.
pub async fn only_committed_state_changes_are_events<S>(store: &S)
where
    S: RunStore + ControlStore + ?Sized,
{
    let run = store
        .create_run(new_run("quiet", &["a"]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let running = TaskInstance {
        state: TaskState::Running {
            attempt: Attempt(1),
            started_at: at,
        },
        last_attempt: 1,
        ..TaskInstance::new()
    };
    store
        .apply(
            run.id,
            &[
                Change::Run(RunState::Running { started_at: at }),
                task_change("a", running.clone()),
                Change::AttemptStarted {
                    task: TaskName::new("a"),
                    attempt: Attempt(1),
                    started_at: at,
                },
            ],
        )
        .await
        .expect("apply");
    let before = store.last_event().await.expect("last_event");

    store
        .apply(
            run.id,
            &[
                Change::Run(RunState::Running {
                    started_at: instant("2026-03-01T03:00:00Z"),
                }),
                task_change("a", running),
                Change::AttemptProcess {
                    task: TaskName::new("a"),
                    attempt: Attempt(1),
                    process: ProcessIdentity {
                        pid: 42,
                        start_ticks: 7,
                    },
                },
            ],
        )
        .await
        .expect("apply");
    let failing = store
        .apply(
            run.id,
            &[
                Change::Run(RunState::Cancelled {
                    started_at: at,
                    finished_at: at,
                }),
                task_change("no_such_task", TaskInstance::new()),
            ],
        )
        .await;
    assert!(failing.is_err(), "a change to an unknown task is refused");

    assert_eq!(store.last_event().await.expect("last_event"), before);
    let (events, through) = events(store, before, &EventFilter::default()).await;
    assert_eq!(events, []);
    assert_eq!(through, before);
}

/// Filters keep one run's or one workflow's events; `through` moves on past events the
/// filter left out, and a full page stops at its last event.
pub async fn events_are_filtered_by_run_and_workflow_and_paged<S>(store: &S)
where
    S: RunStore + ControlStore + ?Sized,
{
    let start = store.last_event().await.expect("last_event");
    let first = store
        .create_run(new_run("one", &["a"]))
        .await
        .expect("create_run");
    let second = store
        .create_run(new_run("two", &["a"]))
        .await
        .expect("create_run");
    let third = store
        .create_run(new_run("one", &["a"]))
        .await
        .expect("create_run");
    let latest = store.last_event().await.expect("last_event");

    let runs = |events: &[FeedEvent]| events.iter().map(|event| event.run).collect::<Vec<_>>();
    let by_workflow = EventFilter {
        workflow: Some(WorkflowName::new("one")),
        ..EventFilter::default()
    };
    let (found, through) = events(store, start, &by_workflow).await;
    assert_eq!(runs(&found), [first.id, third.id]);
    assert_eq!(through, latest);

    let by_run = EventFilter {
        run: Some(second.id),
        ..EventFilter::default()
    };
    let (found, through) = events(store, start, &by_run).await;
    assert_eq!(runs(&found), [second.id]);
    assert_eq!(through, latest, "the reader moves past the events left out");
    let (found, through) = events(store, through, &by_run).await;
    assert_eq!(found, []);
    assert_eq!(through, latest);

    let page = store
        .events_after(start, &EventFilter::default(), 2)
        .await
        .expect("events_after");
    let EventPage::Events {
        events: page,
        through,
    } = page
    else {
        panic!("a reset where events were kept");
    };
    assert_eq!(runs(&page), [first.id, second.id]);
    assert_eq!(through, page[1].seq, "a full page stops at its last event");
}

/// A reader behind the pruned events, or ahead of the newest (a sequence number the store
/// never gave), is told to read the state again; one within the kept events is not.
pub async fn a_reader_behind_the_kept_events_is_told_to_reset<S>(store: &S)
where
    S: RunStore + ControlStore + ?Sized,
{
    let start = store.last_event().await.expect("last_event");
    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(
            store
                .create_run(new_run("pruned", &["a"]))
                .await
                .expect("create_run"),
        );
    }
    let latest = store.last_event().await.expect("last_event");
    store.prune_events(2).await.expect("prune_events");

    for behind in [start, EventSeq(latest.0 - 3)] {
        assert_eq!(
            store
                .events_after(behind, &EventFilter::default(), 100)
                .await
                .expect("events_after"),
            EventPage::Reset { latest },
            "after {behind}"
        );
    }
    assert_eq!(
        store
            .events_after(EventSeq(latest.0 + 1), &EventFilter::default(), 100)
            .await
            .expect("events_after"),
        EventPage::Reset { latest },
        "a sequence number the store never gave"
    );
    let (kept, _) = events(store, EventSeq(latest.0 - 2), &EventFilter::default()).await;
    let kept_runs: Vec<RunId> = kept.iter().map(|event| event.run).collect();
    assert_eq!(kept_runs, [runs[2].id, runs[3].id]);

    // Sequence numbers are never given again after pruning.
    store.prune_events(0).await.expect("prune_events");
    let next = store
        .create_run(new_run("pruned", &["a"]))
        .await
        .expect("create_run");
    let (after_pruning, _) = events(store, latest, &EventFilter::default()).await;
    assert_eq!(after_pruning.len(), 1);
    assert_eq!(after_pruning[0].run, next.id);
    assert!(after_pruning[0].seq > latest);
}
