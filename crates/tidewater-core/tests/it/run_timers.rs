//! A run's `timeout` and `deadline`, and `next_timer`, driven by a manual clock: time is
//! only ever the `now` given to `decide`.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone};
use tidewater_core::{
    Action, Attempt, AttemptOutcome, Backoff, Change, DataInterval, Deadline, DecideContext, Event,
    FailureReason, HandlerKind, RetryPolicy, RunState, RunTrigger, Task, TaskAction, TaskIndex,
    TaskRole, TaskState, Workflow, decide, next_timer,
};

use crate::decide::{Sim, at, fail, notified, ok, task, workflow_with};

fn handler(kind: HandlerKind) -> Task {
    let mut handler = task(kind.task_name(), &[]);
    handler.role = TaskRole::Handler(kind);
    handler
}

fn with_retries(mut task: Task, retries: u32, delay: Duration) -> Task {
    task.retry = RetryPolicy {
        retries,
        delay,
        backoff: Backoff::Constant,
        has_jitter: false,
    };
    task
}

const HOUR: i64 = 3600;

fn killed_by_timeout() -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::Cancelled,
    }
}

/// `slow` runs past the timeout, `flaky` waits for a retry, `after` waits for `slow`.
fn timed_workflow() -> Workflow {
    workflow_with(
        vec![
            with_retries(task("slow", &[]), 2, Duration::from_secs(60)),
            with_retries(task("flaky", &[]), 3, Duration::from_secs(2 * 3600)),
            task("after", &[0]),
            handler(HandlerKind::OnFailure),
            handler(HandlerKind::OnSuccess),
        ],
        |settings| settings.timeout = Some(Duration::from_secs(3600)),
    )
}

#[test]
fn a_run_past_its_timeout_kills_its_steps_fails_and_runs_on_failure() {
    let workflow = timed_workflow();
    let mut sim = Sim::new(&workflow);
    sim.now = at(60);
    sim.finish("flaky", fail());
    assert_eq!(sim.state("flaky"), "up_for_retry");
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(HOUR)),
        "the timeout comes before the retry at 2h"
    );

    sim.tick_at(at(HOUR - 1));
    assert!(sim.killed.is_empty(), "not before the timeout");
    assert_eq!(sim.state("after"), "pending");

    sim.tick_at(at(HOUR));
    assert_eq!(sim.killed, vec![(TaskIndex(0), Attempt(1))]);
    assert_eq!(sim.state("slow"), "running", "until the kill is reported");
    assert_eq!(sim.state("flaky"), "failed", "its retry will not come");
    assert_eq!(sim.state("after"), "upstream_failed");
    assert_eq!(
        sim.state("on_failure"),
        "pending",
        "the steps are not done yet"
    );
    assert!(matches!(sim.view.run, RunState::Running { .. }));
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        None,
        "a passed timeout does not wake the engine again"
    );

    let changes = sim.finish("slow", killed_by_timeout());
    assert!(
        changes.contains(&Change::AttemptFinished {
            task: workflow.task(TaskIndex(0)).name.clone(),
            attempt: Attempt(1),
            finished_at: at(HOUR),
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::RunTimedOut
            },
        }),
        "the attempt is recorded as stopped by the run's timeout: {changes:?}"
    );
    assert_eq!(
        sim.state("slow"),
        "failed",
        "no retry, though it has 2 left"
    );
    assert_eq!(sim.state("on_failure"), "running");
    assert_eq!(sim.state("on_success"), "skipped");
    sim.finish("on_failure", ok());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
    assert_eq!(sim.starts_of("slow"), 1);
    assert_eq!(sim.starts_of("flaky"), 1);
}

#[test]
fn every_decision_past_the_timeout_asks_again_to_kill_what_still_runs() {
    let workflow = timed_workflow();
    let mut sim = Sim::new(&workflow);
    sim.tick_at(at(HOUR));
    let before = sim.view.clone();
    let again = decide(
        &workflow,
        &before,
        &[Event::Tick],
        DecideContext {
            now: at(HOUR + 5),
            jitter_seed: 0,
        },
    );
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(
        again.actions,
        vec![
            Action::Kill {
                task: TaskIndex(0),
                attempt: Attempt(1)
            },
            Action::Kill {
                task: TaskIndex(1),
                attempt: Attempt(1)
            },
        ]
    );
}

#[test]
fn a_timed_out_run_resumes_with_retry_and_a_fresh_timeout() {
    let workflow = timed_workflow();
    let mut sim = Sim::new(&workflow);
    sim.tick_at(at(HOUR));
    sim.finish("slow", killed_by_timeout());
    sim.finish("flaky", killed_by_timeout());
    sim.finish("on_failure", ok());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));

    // What `tidewater retry` sends: the tasks that ended without succeeding, then Start.
    sim.now = at(5 * HOUR);
    let failed: Vec<TaskIndex> = workflow
        .indices()
        .filter(|&index| {
            matches!(
                sim.view.task(index).state,
                TaskState::Failed { .. }
                    | TaskState::UpstreamFailed
                    | TaskState::Cancelled
                    | TaskState::Skipped
                    | TaskState::UpForRetry { .. }
            )
        })
        .collect();
    sim.step(vec![Event::Reset(failed), Event::Start]);
    assert_eq!(
        sim.view.run,
        RunState::Running {
            started_at: at(5 * HOUR)
        }
    );
    assert_eq!(sim.state("slow"), "running");
    assert_eq!(sim.state("flaky"), "running");
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(6 * HOUR))
    );
    sim.finish("slow", ok());
    sim.finish("flaky", ok());
    sim.finish("after", ok());
    sim.finish("on_success", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn queued_steps_of_a_timed_out_run_never_start() {
    let workflow = timed_workflow();
    let mut sim = Sim::new(&workflow);
    sim.now = at(60);
    sim.finish("flaky", fail());
    // The retry is due just as the run times out; the engine's tick and a late admission
    // must not start it.
    let decision = decide(
        &workflow,
        &sim.view,
        &[Event::Tick, Event::Admit(vec![TaskIndex(1)])],
        DecideContext {
            now: at(3 * HOUR),
            jitter_seed: 0,
        },
    );
    assert!(
        !decision
            .actions
            .iter()
            .any(|action| matches!(action, Action::Start { .. })),
        "{:?}",
        decision.actions
    );
    assert!(matches!(
        decision.view.task(TaskIndex(1)).state,
        TaskState::Failed { .. }
    ));
}

/// Regression guard: the timeout is about the steps; a handler that runs past it must not
/// turn a run whose steps all succeeded into a failed one.
#[test]
fn the_timeout_leaves_a_run_whose_steps_are_done_alone() {
    let workflow = workflow_with(
        vec![task("quick", &[]), handler(HandlerKind::OnSuccess)],
        |settings| settings.timeout = Some(Duration::from_secs(3600)),
    );
    let mut sim = Sim::new(&workflow);
    sim.finish("quick", ok());
    assert_eq!(sim.state("on_success"), "running");
    assert_eq!(next_timer(&workflow, &sim.view, sim.now), None);
    sim.tick_at(at(2 * HOUR));
    assert!(sim.killed.is_empty());
    sim.finish("on_success", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

/// `slow` then `publish`; the interval ends at `at(0)`, the deadline is 3 h later.
fn deadline_workflow(has_handler: bool) -> Workflow {
    let mut tasks = vec![task("slow", &[]), task("publish", &[0])];
    if has_handler {
        tasks.push(handler(HandlerKind::OnDeadlineMiss));
    }
    workflow_with(tasks, |settings| {
        settings.deadline = Some(Deadline::after_interval_end(Duration::from_secs(3 * 3600)))
    })
}

#[test]
fn a_missed_deadline_runs_on_deadline_miss_once_while_the_run_goes_on() {
    let workflow = deadline_workflow(true);
    let mut sim = Sim::new(&workflow);
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(3 * HOUR))
    );
    sim.tick_at(at(3 * HOUR - 1));
    assert_eq!(sim.state("on_deadline_miss"), "pending");
    sim.tick_at(at(3 * HOUR));
    assert_eq!(sim.state("on_deadline_miss"), "running");
    assert_eq!(sim.state("slow"), "running", "the run goes on");
    sim.finish("on_deadline_miss", fail());
    assert_eq!(next_timer(&workflow, &sim.view, sim.now), None);
    for hour in 4..10 {
        sim.tick_at(at(hour * HOUR));
    }
    assert_eq!(
        sim.starts_of("on_deadline_miss"),
        1,
        "once, whatever the ticks"
    );
    sim.finish("slow", ok());
    sim.finish("publish", ok());
    assert!(
        matches!(sim.view.run, RunState::Succeeded { .. }),
        "the handler's failure does not change the run's outcome: {:?}",
        sim.view.run
    );
    assert_eq!(sim.state("on_deadline_miss"), "failed");
}

#[test]
fn a_run_that_finishes_before_its_deadline_skips_on_deadline_miss() {
    let workflow = deadline_workflow(true);
    let mut sim = Sim::new(&workflow);
    sim.finish("slow", ok());
    sim.finish("publish", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
    assert_eq!(sim.state("on_deadline_miss"), "skipped");
    assert_eq!(next_timer(&workflow, &sim.view, sim.now), None);
    sim.tick_at(at(4 * HOUR));
    assert_eq!(sim.starts_of("on_deadline_miss"), 0);
}

#[test]
fn the_steps_finishing_in_the_decision_that_sees_the_deadline_still_missed_it() {
    let workflow = deadline_workflow(true);
    let mut sim = Sim::new(&workflow);
    sim.finish("slow", ok());
    // `publish` reports after the deadline, before the engine's timer fired.
    sim.now = at(3 * HOUR + 10);
    sim.finish("publish", ok());
    assert_eq!(sim.state("on_deadline_miss"), "running");
    assert!(
        matches!(sim.view.run, RunState::Running { .. }),
        "the run waits for the handler"
    );
    sim.finish("on_deadline_miss", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn without_a_handler_a_missed_deadline_is_recorded_by_an_empty_one() {
    let workflow = deadline_workflow(false);
    let recorder = workflow
        .handler(HandlerKind::OnDeadlineMiss)
        .expect("added by the workflow");
    assert_eq!(workflow.task(recorder).action, TaskAction::Empty);
    assert_eq!(workflow.task(recorder).name.as_str(), "on_deadline_miss");

    let mut missed = Sim::new(&workflow);
    missed.tick_at(at(3 * HOUR));
    assert_eq!(missed.state("on_deadline_miss"), "succeeded");
    assert!(missed.started.iter().all(|(task, _)| *task != recorder));

    let mut met = Sim::new(&workflow);
    met.finish("slow", ok());
    met.finish("publish", ok());
    assert_eq!(met.state("on_deadline_miss"), "skipped");
}

#[test]
fn a_missed_deadline_records_its_webhook_once_and_a_met_one_records_none() {
    use tidewater_core::{NotificationEvent, NotificationKey, Webhook};
    let mut workflow = deadline_workflow(false);
    workflow.webhooks.push(Webhook {
        event: NotificationEvent::OnDeadlineMiss,
        url: "http://127.0.0.1:9/late".to_owned(),
        body: None,
    });

    let mut missed = Sim::new(&workflow);
    assert!(notified(&missed.tick_at(at(3 * HOUR - 1))).is_empty());
    assert_eq!(
        notified(&missed.tick_at(at(3 * HOUR))),
        [NotificationKey {
            event: NotificationEvent::OnDeadlineMiss,
            retried: None,
        }]
    );
    let mut later = missed.tick_at(at(4 * HOUR));
    later.extend(missed.finish("slow", ok()));
    later.extend(missed.finish("publish", ok()));
    assert!(matches!(missed.view.run, RunState::Succeeded { .. }));
    assert!(notified(&later).is_empty(), "once per run: {later:?}");

    let mut met = Sim::new(&workflow);
    let mut changes = met.finish("slow", ok());
    changes.extend(met.finish("publish", ok()));
    changes.extend(met.tick_at(at(4 * HOUR)));
    assert_eq!(met.state("on_deadline_miss"), "skipped");
    assert!(notified(&changes).is_empty(), "{changes:?}");
}

#[test]
fn a_retry_before_the_deadline_can_miss_it_and_one_after_raises_no_late_alarm() {
    let workflow = deadline_workflow(true);
    let retry = |sim: &mut Sim<'_>, now| {
        sim.now = now;
        sim.step(vec![
            Event::Reset(vec![TaskIndex(0), TaskIndex(1), TaskIndex(2)]),
            Event::Start,
        ]);
    };

    // Failed at 1 h (before the deadline), retried at 2 h, still working at 3 h: a miss.
    let mut early = Sim::new(&workflow);
    early.now = at(HOUR);
    early.finish("slow", fail());
    assert_eq!(early.state("on_deadline_miss"), "skipped");
    retry(&mut early, at(2 * HOUR));
    assert_eq!(early.state("on_deadline_miss"), "pending");
    early.tick_at(at(3 * HOUR));
    assert_eq!(early.state("on_deadline_miss"), "running");

    // Failed at 1 h, retried at 5 h: the run was not working at the deadline.
    let mut late = Sim::new(&workflow);
    late.now = at(HOUR);
    late.finish("slow", fail());
    retry(&mut late, at(5 * HOUR));
    assert_eq!(late.state("slow"), "running");
    assert_eq!(late.state("on_deadline_miss"), "skipped");
    assert_eq!(late.starts_of("on_deadline_miss"), 0);
}

#[test]
fn a_six_oclock_deadline_on_a_spring_forward_day_comes_five_hours_after_midnight() {
    let new_york = chrono_tz::America::New_York;
    let workflow = workflow_with(
        vec![task("slow", &[]), handler(HandlerKind::OnDeadlineMiss)],
        |settings| {
            settings.timezone = new_york;
            settings.deadline = Some(Deadline::time_of_day(6, 0).expect("a valid time"));
        },
    );
    // The run of 2026-03-07 starts when the day ends: 2026-03-08 00:00 EST = 05:00 UTC.
    // Clocks go from 02:00 EST to 03:00 EDT that night, so 06:00 EDT is 10:00 UTC.
    let day = DataInterval::day(
        NaiveDate::from_ymd_opt(2026, 3, 7).expect("valid"),
        new_york,
    );
    let utc = |hour, minute| {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 8, hour, minute, 0)
            .single()
            .expect("valid")
    };
    assert_eq!(day.end, utc(5, 0));
    let mut sim = Sim::starting(&workflow, day, day.end);
    assert_eq!(next_timer(&workflow, &sim.view, sim.now), Some(utc(10, 0)));
    sim.tick_at(utc(9, 59));
    assert_eq!(sim.state("on_deadline_miss"), "pending");
    sim.tick_at(utc(10, 0));
    assert_eq!(sim.state("on_deadline_miss"), "running");
}

#[test]
fn next_timer_is_the_earliest_retry_timeout_or_deadline() {
    let workflow = workflow_with(
        vec![
            with_retries(task("flaky", &[]), 1, Duration::from_secs(600)),
            task("slow", &[]),
            handler(HandlerKind::OnDeadlineMiss),
        ],
        |settings| {
            settings.timeout = Some(Duration::from_secs(2 * 3600));
            settings.deadline = Some(Deadline::after_interval_end(Duration::from_secs(3600)));
        },
    );
    let mut sim = Sim::new(&workflow);
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(HOUR)),
        "the deadline"
    );
    sim.now = at(60);
    sim.finish("flaky", fail());
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(660)),
        "the retry"
    );
    sim.tick_at(at(660));
    sim.tick_at(at(HOUR));
    assert_eq!(sim.state("on_deadline_miss"), "running");
    assert_eq!(
        next_timer(&workflow, &sim.view, sim.now),
        Some(at(2 * HOUR)),
        "the timeout"
    );
    // A retry already due still needs its tick.
    sim.finish("on_deadline_miss", fail());
    assert_eq!(sim.state("on_deadline_miss"), "failed");
    let mut due = sim.view.clone();
    let flaky = TaskIndex(0);
    let mut instance = due.task(flaky).clone();
    instance.state = TaskState::UpForRetry {
        attempt: Attempt(2),
        not_before: at(HOUR),
    };
    due.set_task(&workflow, flaky, instance);
    assert_eq!(next_timer(&workflow, &due, at(HOUR + 1)), Some(at(HOUR)));
    // A run that has ended needs no timer.
    let mut ended = sim.view.clone();
    ended.run = RunState::Failed {
        started_at: at(0),
        finished_at: at(HOUR),
    };
    assert_eq!(next_timer(&workflow, &ended, sim.now), None);
}

// Guards the rule that only scheduled runs have deadlines (a backfill of last year must not
// raise a year of alarms): the engine executes a run's workflow as `for_trigger` gives it.
#[test]
fn only_scheduled_runs_have_deadlines() {
    let workflow = deadline_workflow(true);
    assert!(
        workflow
            .for_trigger(RunTrigger::Scheduled)
            .deadline
            .is_some()
    );
    for trigger in [RunTrigger::Manual, RunTrigger::Backfill] {
        let executed = workflow.for_trigger(trigger);
        assert!(executed.deadline.is_none(), "{}", trigger.as_str());
        // Late, and the steps not done: a backfill run goes on without a deadline alarm.
        let mut sim = Sim::new(&executed);
        sim.tick_at(at(4 * HOUR));
        assert_eq!(sim.state("on_deadline_miss"), "pending");
        sim.finish("slow", ok());
        sim.finish("publish", ok());
        assert_eq!(sim.state("on_deadline_miss"), "skipped");
        assert_eq!(sim.starts_of("on_deadline_miss"), 0);
    }
}
