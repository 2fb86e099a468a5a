use std::time::Duration;

use chrono::TimeZone;
use tidewater_core::{
    Action, Attempt, AttemptOutcome, Backoff, Change, DataInterval, DecideContext, Event,
    FailureClass, FailureReason, HandlerKind, RetryPolicy, RunState, RunView, Task, TaskAction,
    TaskIndex, TaskName, TaskRole, TaskState, Timestamp, TriggerRule, Workflow, WorkflowName,
    WorkflowSettings, decide,
};

pub(crate) fn at(seconds: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_767_225_600 + seconds, 0)
        .single()
        .expect("valid")
}

/// The run's data interval: the day before `at(0)`, so a run starts when its interval ends.
pub(crate) fn interval() -> DataInterval {
    DataInterval::new(at(-86_400), at(0)).expect("a valid interval")
}

pub(crate) fn task(name: &str, needs: &[u32]) -> Task {
    Task {
        name: TaskName::new(name),
        action: TaskAction::Sh {
            command: format!("echo {name}"),
            env: Vec::new(),
        },
        needs: needs.iter().map(|&index| TaskIndex(index)).collect(),
        trigger: TriggerRule::AllSuccess,
        retry: RetryPolicy::default(),
        timeout: None,
        pool: None,
        pool_slots: 1,
        priority: 0,
        role: TaskRole::Step,
        queue: None,
    }
}

fn workflow(tasks: Vec<Task>) -> Workflow {
    workflow_with(tasks, |_| {})
}

/// A workflow whose settings `adjust` changes (a timeout, a deadline, a time zone).
pub(crate) fn workflow_with(
    tasks: Vec<Task>,
    adjust: impl FnOnce(&mut WorkflowSettings),
) -> Workflow {
    let mut settings = WorkflowSettings {
        name: WorkflowName::new("test"),
        schedule: None,
        data_triggers: Vec::new(),
        timezone: chrono_tz::UTC,
        start: None,
        catchup: false,
        max_active_runs: 1,
        max_active_tasks: None,
        params: serde_json::Map::new(),
        timeout: None,
        deadline: None,
    };
    adjust(&mut settings);
    Workflow::new(settings, tasks).expect("a DAG")
}

/// Drives a run like the engine does: every queued task is admitted at once.
pub(crate) struct Sim<'a> {
    pub workflow: &'a Workflow,
    pub view: RunView,
    pub now: Timestamp,
    pub started: Vec<(TaskIndex, Attempt)>,
    pub killed: Vec<(TaskIndex, Attempt)>,
}

impl<'a> Sim<'a> {
    pub(crate) fn new(workflow: &'a Workflow) -> Sim<'a> {
        Sim::starting(workflow, interval(), at(0))
    }

    /// A run of `interval` that starts at `now`.
    pub(crate) fn starting(
        workflow: &'a Workflow,
        interval: DataInterval,
        now: Timestamp,
    ) -> Sim<'a> {
        let mut sim = Sim {
            workflow,
            view: RunView::fresh(workflow, RunState::Queued, interval),
            now,
            started: Vec::new(),
            killed: Vec::new(),
        };
        sim.step(vec![Event::Start]);
        sim
    }

    pub(crate) fn step(&mut self, events: Vec<Event>) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut events = events;
        loop {
            let decision = decide(
                self.workflow,
                &self.view,
                &events,
                DecideContext {
                    now: self.now,
                    jitter_seed: 7,
                },
            );
            changes.extend(decision.changes);
            self.view = decision.view;
            for action in decision.actions {
                match action {
                    Action::Start { task, attempt } => self.started.push((task, attempt)),
                    Action::Kill { task, attempt } => self.killed.push((task, attempt)),
                }
            }
            let queued: Vec<TaskIndex> = self
                .workflow
                .indices()
                .filter(|&index| matches!(self.view.task(index).state, TaskState::Queued { .. }))
                .collect();
            if queued.is_empty() {
                return changes;
            }
            events = vec![Event::Admit(queued)];
        }
    }

    pub(crate) fn finish(&mut self, name: &str, outcome: AttemptOutcome) -> Vec<Change> {
        let index = self.workflow.index_of(name).expect("task exists");
        let TaskState::Running { attempt, .. } = self.view.task(index).state else {
            panic!("{name} is not running: {:?}", self.view.task(index).state);
        };
        self.step(vec![Event::AttemptFinished {
            task: index,
            attempt,
            outcome,
        }])
    }

    /// Time passes until `now`, and the engine's timer fires.
    pub(crate) fn tick_at(&mut self, now: Timestamp) -> Vec<Change> {
        self.now = now;
        self.step(vec![Event::Tick])
    }

    /// How many attempts of `name` were started.
    pub(crate) fn starts_of(&self, name: &str) -> usize {
        let index = self.workflow.index_of(name).expect("task exists");
        self.started
            .iter()
            .filter(|(task, _)| *task == index)
            .count()
    }

    pub(crate) fn state(&self, name: &str) -> &'static str {
        self.view
            .task(self.workflow.index_of(name).expect("task exists"))
            .state
            .name()
    }
}

pub(crate) fn ok() -> AttemptOutcome {
    AttemptOutcome::Succeeded {
        output: None,
        log_error: None,
    }
}

pub(crate) fn fail() -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::Exit { code: 1 },
    }
}

#[test]
fn a_failure_propagates_as_upstream_failed_and_all_done_still_runs() {
    let mut notify = task("notify", &[1]);
    notify.trigger = TriggerRule::AllDone;
    let workflow = workflow(vec![task("extract", &[]), task("load", &[0]), notify]);
    let mut sim = Sim::new(&workflow);
    assert_eq!(sim.state("extract"), "running");
    sim.finish("extract", fail());
    assert_eq!(sim.state("load"), "upstream_failed");
    assert_eq!(sim.state("notify"), "running");
    sim.finish("notify", ok());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
}

#[test]
fn retries_wait_for_their_delay_then_use_a_new_attempt_number() {
    let mut flaky = task("flaky", &[]);
    flaky.retry = RetryPolicy {
        retries: 2,
        delay: Duration::from_secs(60),
        backoff: Backoff::Exponential {
            max_delay: Duration::from_secs(3600),
        },
        has_jitter: false,
    };
    let workflow = workflow(vec![flaky]);
    let mut sim = Sim::new(&workflow);
    sim.finish("flaky", fail());
    assert_eq!(sim.state("flaky"), "up_for_retry");
    sim.now = at(59);
    sim.step(vec![Event::Tick]);
    assert_eq!(sim.state("flaky"), "up_for_retry", "not before the delay");
    sim.now = at(60);
    sim.step(vec![Event::Tick]);
    assert_eq!(sim.state("flaky"), "running");
    sim.finish("flaky", fail());
    // The second delay doubles: 120 s after the failure at 60 s.
    let TaskState::UpForRetry {
        not_before,
        attempt,
    } = sim.view.task(TaskIndex(0)).state
    else {
        panic!("expected a retry");
    };
    assert_eq!((attempt, not_before), (Attempt(2), at(180)));
    sim.now = at(180);
    sim.step(vec![Event::Tick]);
    sim.finish("flaky", fail());
    assert_eq!(
        sim.state("flaky"),
        "failed",
        "the try budget of 3 attempts is spent"
    );
    assert_eq!(
        sim.started
            .iter()
            .map(|(_, attempt)| attempt.0)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn resetting_failed_tasks_keeps_succeeded_ones_and_gives_a_fresh_budget() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[0]), task("c", &[1])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", ok());
    sim.finish("b", fail());
    assert_eq!(sim.state("c"), "upstream_failed");
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
    sim.started.clear();
    sim.step(vec![
        Event::Reset(vec![TaskIndex(1), TaskIndex(2)]),
        Event::Start,
    ]);
    assert_eq!(sim.state("a"), "succeeded");
    assert_eq!(sim.started, vec![(TaskIndex(1), Attempt(2))]);
    sim.finish("b", ok());
    sim.finish("c", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn the_failure_handler_runs_before_the_run_ends_and_the_success_handler_is_skipped() {
    let mut on_failure = task("on_failure", &[]);
    on_failure.role = TaskRole::Handler(HandlerKind::OnFailure);
    let mut on_success = task("on_success", &[]);
    on_success.role = TaskRole::Handler(HandlerKind::OnSuccess);
    let workflow = workflow(vec![task("a", &[]), on_failure, on_success]);
    let mut sim = Sim::new(&workflow);
    assert_eq!(
        sim.state("on_failure"),
        "pending",
        "handlers wait for the steps"
    );
    sim.finish("a", fail());
    assert_eq!(sim.state("on_failure"), "running");
    assert_eq!(sim.state("on_success"), "skipped");
    assert!(matches!(sim.view.run, RunState::Running { .. }));
    sim.finish("on_failure", ok());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
}

#[test]
fn cancel_kills_running_attempts_and_cancels_the_rest() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[]), task("c", &[0, 1])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", ok());
    let decision = decide(
        &workflow,
        &sim.view,
        &[Event::Cancel],
        DecideContext {
            now: at(1),
            jitter_seed: 0,
        },
    );
    assert_eq!(
        decision.actions,
        vec![Action::Kill {
            task: TaskIndex(1),
            attempt: Attempt(1)
        }]
    );
    sim.view = decision.view;
    assert_eq!(sim.state("c"), "cancelled");
    sim.finish(
        "b",
        AttemptOutcome::Failed {
            reason: FailureReason::Cancelled,
        },
    );
    assert_eq!(sim.state("b"), "cancelled");
    assert!(matches!(sim.view.run, RunState::Cancelled { .. }));
}

#[test]
fn ten_thousand_empty_tasks_complete_in_one_decision() {
    let mut tasks = vec![task("start", &[])];
    tasks[0].action = TaskAction::Empty;
    for index in 0..10_000 {
        let mut middle = task(&format!("t{index}"), &[0]);
        middle.action = TaskAction::Empty;
        tasks.push(middle);
    }
    let mut join = task("join", &(1..=10_000).collect::<Vec<u32>>());
    join.action = TaskAction::Empty;
    tasks.push(join);
    let workflow = workflow(tasks);
    let sim = Sim::new(&workflow);
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
    assert!(
        sim.view
            .tasks()
            .iter()
            .all(|instance| matches!(instance.state, TaskState::Succeeded { .. }))
    );
}

#[test]
fn a_report_for_an_attempt_that_is_not_running_changes_nothing() {
    let workflow = workflow(vec![task("a", &[])]);
    let sim = Sim::new(&workflow);
    let stale = Event::AttemptFinished {
        task: TaskIndex(0),
        attempt: Attempt(7),
        outcome: ok(),
    };
    let decision = decide(
        &workflow,
        &sim.view,
        &[stale],
        DecideContext {
            now: at(5),
            jitter_seed: 0,
        },
    );
    assert!(decision.changes.is_empty());
    assert_eq!(decision.view, sim.view);
}

fn lost() -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::Lost,
    }
}

/// The outcomes recorded for `name`'s attempts in `changes`, in order.
fn recorded_outcomes(changes: &[Change], name: &str) -> Vec<(Attempt, AttemptOutcome)> {
    changes
        .iter()
        .filter_map(|change| match change {
            Change::AttemptFinished {
                task,
                attempt,
                outcome,
                ..
            } if task.as_str() == name => Some((*attempt, outcome.clone())),
            _ => None,
        })
        .collect()
}

/// Regression (issue 15, item 4): an attempt lost because Tidewater itself was killed was
/// retried by the task's own policy, so with the default `retries: 0` a server restart
/// failed the task.
#[test]
fn a_lost_attempt_is_started_again_at_once_without_using_a_retry() {
    let workflow = workflow(vec![task("slow", &[]), task("last", &[0])]);
    assert_eq!(workflow.task(TaskIndex(0)).retry.retries, 0);
    let mut sim = Sim::new(&workflow);
    sim.now = at(10);
    sim.finish("slow", lost());
    assert_eq!(
        sim.state("slow"),
        "running",
        "no retry delay for a lost attempt"
    );
    assert_eq!(sim.started.last(), Some(&(TaskIndex(0), Attempt(2))));
    assert_eq!(sim.view.task(TaskIndex(0)).lost_attempts, 1);
    sim.finish("slow", ok());
    sim.finish("last", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn an_interrupted_attempt_counts_as_lost_not_as_failed() {
    let workflow = workflow(vec![task("a", &[])]);
    let mut sim = Sim::new(&workflow);
    let changes = sim.finish(
        "a",
        AttemptOutcome::Failed {
            reason: FailureReason::Interrupted {
                message: "database or disk is full".into(),
            },
        },
    );
    assert_eq!(sim.state("a"), "running");
    assert_eq!(
        recorded_outcomes(&changes, "a"),
        vec![(
            Attempt(1),
            AttemptOutcome::Failed {
                reason: FailureReason::Interrupted {
                    message: "database or disk is full".into()
                }
            }
        )],
        "the attempt keeps its true reason"
    );
}

#[test]
fn lost_attempts_leave_the_retry_budget_and_its_delays_whole() {
    let mut flaky = task("flaky", &[]);
    flaky.retry = RetryPolicy {
        retries: 1,
        delay: Duration::from_secs(60),
        backoff: Backoff::Exponential {
            max_delay: Duration::from_secs(3600),
        },
        has_jitter: false,
    };
    let workflow = workflow(vec![flaky]);
    let mut sim = Sim::new(&workflow);
    sim.finish("flaky", lost());
    sim.finish("flaky", lost());
    sim.finish("flaky", fail());
    // The first retry's delay, as if nothing had been lost: 60 s, not 240 s.
    assert_eq!(
        sim.view.task(TaskIndex(0)).state,
        TaskState::UpForRetry {
            attempt: Attempt(3),
            not_before: at(60)
        }
    );
    sim.tick_at(at(60));
    sim.finish("flaky", fail());
    assert_eq!(
        sim.state("flaky"),
        "failed",
        "one retry, then the budget is spent"
    );
    assert_eq!(sim.starts_of("flaky"), 4);
}

#[test]
fn a_task_lost_too_often_fails_and_says_so() {
    let mut patient = task("patient", &[]);
    patient.retry.retries = 10;
    let workflow = workflow(vec![patient]);
    let mut sim = Sim::new(&workflow);
    for _ in 0..tidewater_core::MAX_LOST_ATTEMPTS {
        sim.finish("patient", lost());
        assert_eq!(sim.state("patient"), "running");
    }
    let changes = sim.finish("patient", lost());
    assert_eq!(
        sim.state("patient"),
        "failed",
        "retries do not extend the bound"
    );
    let times = tidewater_core::MAX_LOST_ATTEMPTS + 1;
    assert_eq!(
        recorded_outcomes(&changes, "patient"),
        vec![(
            Attempt(times),
            AttemptOutcome::Failed {
                reason: FailureReason::LostTooOften { times }
            }
        )]
    );
    assert!(matches!(sim.view.run, RunState::Failed { .. }));

    // `retry` gives a fresh allowance.
    sim.step(vec![Event::Reset(vec![TaskIndex(0)]), Event::Start]);
    assert_eq!(sim.view.task(TaskIndex(0)).lost_attempts, 0);
    sim.finish("patient", lost());
    assert_eq!(sim.state("patient"), "running");
}

#[test]
fn a_lost_attempt_of_a_run_past_its_timeout_is_not_started_again() {
    let workflow = workflow_with(vec![task("a", &[])], |settings| {
        settings.timeout = Some(Duration::from_secs(60));
    });
    let mut sim = Sim::new(&workflow);
    sim.now = at(61);
    sim.finish("a", lost());
    assert_eq!(sim.state("a"), "failed");
    assert_eq!(sim.starts_of("a"), 1);
}

/// One simulated attempt's end.
#[derive(Debug, Clone, Copy)]
enum End {
    Succeeds,
    Fails,
    IsLost,
}

proptest::proptest! {
    /// Whatever mix of failures and losses a task meets, failures use up `retries` and
    /// losses use up `MAX_LOST_ATTEMPTS`, each on its own: the task fails exactly when one
    /// of the two is exceeded, and every attempt has a new number.
    #[test]
    fn failures_and_losses_have_separate_budgets(
        retries in 0u32..4,
        ends in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(End::Succeeds),
                proptest::strategy::Just(End::Fails),
                proptest::strategy::Just(End::IsLost),
            ],
            1..12,
        ),
    ) {
        let mut only = task("only", &[]);
        only.retry = RetryPolicy {
            retries,
            delay: Duration::from_secs(1),
            backoff: Backoff::Constant,
            has_jitter: false,
        };
        let workflow = workflow(vec![only]);
        let mut sim = Sim::new(&workflow);
        let (mut failures, mut losses) = (0, 0);
        for end in ends {
            if sim.state("only") == "up_for_retry" {
                sim.tick_at(sim.now + chrono::Duration::seconds(1));
            }
            let expected = match end {
                End::Succeeds => {
                    sim.finish("only", ok());
                    "succeeded"
                }
                End::Fails => {
                    sim.finish("only", fail());
                    failures += 1;
                    if failures > retries { "failed" } else { "up_for_retry" }
                }
                End::IsLost => {
                    sim.finish("only", lost());
                    losses += 1;
                    if losses > tidewater_core::MAX_LOST_ATTEMPTS {
                        "failed"
                    } else {
                        "running"
                    }
                }
            };
            proptest::prop_assert_eq!(sim.state("only"), expected);
            if expected != "running" && expected != "up_for_retry" {
                break;
            }
        }
        let numbers: Vec<u32> = sim.started.iter().map(|(_, attempt)| attempt.0).collect();
        let in_order: Vec<u32> = (1..=numbers.len() as u32).collect();
        proptest::prop_assert_eq!(numbers, in_order);
    }
}

fn failed_with(class: FailureClass) -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::TaskError {
            message: "something went wrong".into(),
            class,
        },
    }
}

fn with_three_retries(name: &str) -> Task {
    let mut task = task(name, &[]);
    task.retry = RetryPolicy {
        retries: 3,
        delay: Duration::from_secs(60),
        backoff: Backoff::Constant,
        has_jitter: false,
    };
    task
}

/// Regression (issue 16, item 6): a typo'd query with `retries: 3` ran four times with
/// back-off; a failure of the task's own input fails the same way every time.
#[test]
fn an_input_failure_is_not_retried() {
    let workflow = workflow(vec![with_three_retries("typo")]);
    let mut sim = Sim::new(&workflow);
    let changes = sim.finish("typo", failed_with(FailureClass::Input));
    assert_eq!(
        sim.state("typo"),
        "failed",
        "no retry for the input's failure"
    );
    assert_eq!(sim.started.len(), 1);
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
    let outcomes = recorded_outcomes(&changes, "typo");
    let [(_, AttemptOutcome::Failed { reason })] = outcomes.as_slice() else {
        panic!("expected one failed attempt, got {outcomes:?}");
    };
    assert_eq!(reason.class(), FailureClass::Input);
}

#[test]
fn failures_of_other_classes_are_retried_by_the_policy() {
    for class in [
        FailureClass::Task,
        FailureClass::Environment,
        FailureClass::Bug,
    ] {
        let workflow = workflow(vec![with_three_retries("flaky")]);
        let mut sim = Sim::new(&workflow);
        sim.finish("flaky", failed_with(class));
        assert_eq!(sim.state("flaky"), "up_for_retry", "{class}");
    }
    let workflow = workflow(vec![with_three_retries("buggy")]);
    let mut sim = Sim::new(&workflow);
    let bug = AttemptOutcome::Failed {
        reason: FailureReason::Bug {
            message: "the sql runner ended without reporting".into(),
        },
    };
    sim.finish("buggy", bug);
    assert_eq!(sim.state("buggy"), "up_for_retry");
    assert_eq!(
        sim.view.task(TaskIndex(0)).lost_attempts,
        0,
        "a bug is not a lost attempt: it uses a retry"
    );
}

#[test]
fn every_reason_has_the_class_of_who_must_act() {
    let cases = [
        (FailureReason::Exit { code: 1 }, FailureClass::Task),
        (FailureReason::Signal { signal: 9 }, FailureClass::Task),
        (FailureReason::TimedOut, FailureClass::Timeout),
        (FailureReason::RunTimedOut, FailureClass::Timeout),
        (
            FailureReason::CouldNotStart {
                message: "cannot render".into(),
                class: FailureClass::Input,
            },
            FailureClass::Input,
        ),
        (FailureReason::Lost, FailureClass::Environment),
        (
            FailureReason::LostTooOften { times: 4 },
            FailureClass::Environment,
        ),
        (
            FailureReason::Bug {
                message: "panicked".into(),
            },
            FailureClass::Bug,
        ),
        (FailureReason::Cancelled, FailureClass::Cancelled),
    ];
    for (reason, class) in cases {
        assert_eq!(reason.class(), class, "{reason}");
        assert_eq!(FailureClass::parse(class.as_str()), Some(class));
    }
}

/// Cancels the run as a service shutting down does: running attempts are killed and
/// report as cancelled.
fn stop(sim: &mut Sim<'_>) {
    let killed_before = sim.killed.len();
    sim.step(vec![Event::Cancel]);
    let killed: Vec<(TaskIndex, Attempt)> = sim.killed[killed_before..].to_vec();
    for (task, attempt) in killed {
        sim.step(vec![Event::AttemptFinished {
            task,
            attempt,
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::Cancelled,
            },
        }]);
    }
}

/// The engine's `Resume::Failed`: reset what `retry` resets, then start.
fn resume_failed(sim: &mut Sim<'_>) {
    let reset: Vec<TaskIndex> = sim
        .workflow
        .indices()
        .filter(|&index| sim.view.task(index).state.is_reset_by_retry())
        .collect();
    sim.step(vec![Event::Reset(reset), Event::Start]);
}

// Guards against the service (or `retry`, `backfill`) writing `queued` over a run's state
// itself: the requeue is decided, and decided only for a run that ended without succeeding.
#[test]
fn requeue_puts_a_stopped_run_back_in_the_queue_with_its_unfinished_tasks_reset() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[]), task("c", &[0, 1])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", ok());
    stop(&mut sim);
    assert!(matches!(sim.view.run, RunState::Cancelled { .. }));

    let changes = sim.step(vec![Event::Requeue]);

    assert_eq!(changes.last(), Some(&Change::Run(RunState::Queued)));
    assert_eq!(sim.view.run, RunState::Queued);
    assert_eq!(sim.state("a"), "succeeded");
    assert_eq!(sim.state("b"), "pending");
    assert_eq!(sim.state("c"), "pending");
    assert!(
        sim.started.len() == 2,
        "nothing starts until it is started again"
    );

    // Started as it is, the reset tasks run again with new attempts; the succeeded one stays.
    sim.step(vec![Event::Start]);
    assert_eq!(sim.state("a"), "succeeded");
    assert_eq!(sim.started[2..], [(TaskIndex(1), Attempt(2))]);
    sim.finish("b", ok());
    sim.finish("c", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn requeue_puts_a_failed_run_back_in_the_queue_with_its_failed_tasks_reset() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[0])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", fail());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));

    let changes = sim.step(vec![Event::Requeue]);
    assert_eq!(changes.last(), Some(&Change::Run(RunState::Queued)));
    assert_eq!(sim.state("a"), "pending");
    assert_eq!(sim.state("b"), "pending");

    sim.step(vec![Event::Start]);
    assert_eq!(sim.state("a"), "running");
    assert_eq!(sim.state("b"), "pending");
}

// Regression: a run cleared through the server ran its other failed tasks again too (the
// service resumed every queued run as `retry` would).
#[test]
fn a_cleared_run_runs_the_cleared_tasks_and_not_its_other_failed_ones() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", ok());
    sim.finish("b", fail());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));

    sim.step(vec![Event::Clear(vec![TaskIndex(0)])]);
    assert_eq!(sim.view.run, RunState::Queued);
    sim.step(vec![Event::Start]);
    assert_eq!(sim.state("a"), "running");
    assert_eq!(sim.state("b"), "failed");
    sim.finish("a", ok());
    assert!(matches!(sim.view.run, RunState::Failed { .. }));
}

#[test]
fn requeue_leaves_succeeded_queued_and_running_runs_alone() {
    let workflow = workflow(vec![task("a", &[])]);
    let decide_requeue = |view: &RunView| {
        decide(
            &workflow,
            view,
            &[Event::Requeue],
            DecideContext {
                now: at(5),
                jitter_seed: 0,
            },
        )
    };

    let queued = RunView::fresh(&workflow, RunState::Queued, interval());
    let decision = decide_requeue(&queued);
    assert_eq!(decision.changes, vec![]);
    assert_eq!(decision.view.run, RunState::Queued);

    let mut sim = Sim::new(&workflow);
    let decision = decide_requeue(&sim.view);
    assert_eq!(decision.changes, vec![], "a running run is not requeued");
    assert!(matches!(decision.view.run, RunState::Running { .. }));

    sim.finish("a", ok());
    let decision = decide_requeue(&sim.view);
    assert_eq!(decision.changes, vec![], "a succeeded run is done");
    assert!(matches!(decision.view.run, RunState::Succeeded { .. }));
}

// Guards the server's `clear`: the reset and the requeue are one decision (one store write),
// a succeeded run goes back too, and resuming it as the service does (`Resume::Failed`) runs
// exactly the cleared tasks again.
#[test]
fn clear_resets_the_tasks_of_a_succeeded_run_and_queues_it_again() {
    let workflow = workflow(vec![task("a", &[]), task("b", &[0]), task("c", &[0])]);
    let mut sim = Sim::new(&workflow);
    sim.finish("a", ok());
    sim.finish("b", ok());
    sim.finish("c", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));

    let changes = sim.step(vec![Event::Clear(vec![TaskIndex(1)])]);

    assert_eq!(sim.view.run, RunState::Queued);
    assert_eq!(changes.last(), Some(&Change::Run(RunState::Queued)));
    assert_eq!(sim.state("a"), "succeeded");
    assert_eq!(sim.state("b"), "pending");
    assert_eq!(sim.state("c"), "succeeded");
    let started_before = sim.started.len();

    resume_failed(&mut sim);
    assert_eq!(sim.started[started_before..], [(TaskIndex(1), Attempt(2))]);
    sim.finish("b", ok());
    assert!(matches!(sim.view.run, RunState::Succeeded { .. }));
}

#[test]
fn clear_leaves_queued_and_running_runs_alone() {
    let workflow = workflow(vec![task("a", &[])]);
    let clear = |view: &RunView| {
        decide(
            &workflow,
            view,
            &[Event::Clear(vec![TaskIndex(0)])],
            DecideContext {
                now: at(5),
                jitter_seed: 0,
            },
        )
    };
    let queued = RunView::fresh(&workflow, RunState::Queued, interval());
    assert_eq!(clear(&queued).changes, vec![]);
    let sim = Sim::new(&workflow);
    let decision = clear(&sim.view);
    assert_eq!(decision.changes, vec![], "a running run is not cleared");
}

#[test]
fn retry_resets_every_state_that_is_neither_a_success_nor_in_progress() {
    let attempt = Attempt(1);
    let reset = [
        TaskState::Failed {
            attempt,
            finished_at: at(0),
        },
        TaskState::UpstreamFailed,
        TaskState::Cancelled,
        TaskState::Skipped,
        TaskState::UpForRetry {
            attempt,
            not_before: at(0),
        },
    ];
    let kept = [
        TaskState::Pending,
        TaskState::Queued {
            attempt,
            since: at(0),
        },
        TaskState::Running {
            attempt,
            started_at: at(0),
        },
        TaskState::Succeeded {
            attempt,
            finished_at: at(0),
        },
    ];
    for state in reset {
        assert!(state.is_reset_by_retry(), "{}", state.name());
    }
    for state in kept {
        assert!(!state.is_reset_by_retry(), "{}", state.name());
    }
}

/// The notifications a decision recorded.
pub(crate) fn notified(changes: &[Change]) -> Vec<tidewater_core::NotificationKey> {
    changes
        .iter()
        .filter_map(|change| match change {
            Change::Notify { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn webhooks_are_recorded_at_each_retry_and_at_the_runs_end_only_when_the_workflow_has_them() {
    use tidewater_core::{NotificationEvent, NotificationKey, Webhook};
    let mut flaky = task("flaky", &[]);
    flaky.retry = RetryPolicy {
        retries: 1,
        delay: Duration::ZERO,
        backoff: Backoff::Constant,
        has_jitter: false,
    };
    let mut workflow = workflow(vec![flaky.clone()]);
    for event in [NotificationEvent::OnRetry, NotificationEvent::OnFailure] {
        workflow.webhooks.push(Webhook {
            event,
            url: "http://127.0.0.1:9/hook".to_owned(),
            body: None,
        });
    }
    let mut sim = Sim::new(&workflow);
    let retried = sim.finish("flaky", fail());
    assert_eq!(
        notified(&retried),
        [NotificationKey {
            event: NotificationEvent::OnRetry,
            retried: Some((TaskName::new("flaky"), Attempt(1))),
        }]
    );
    sim.tick_at(at(0));
    let ended = sim.finish("flaky", fail());
    assert_eq!(
        notified(&ended),
        [NotificationKey {
            event: NotificationEvent::OnFailure,
            retried: None,
        }],
        "the last failure is no retry; the run's failure is"
    );

    // Without webhooks, nothing is recorded.
    let plain = workflow_with(vec![flaky], |_| {});
    let mut sim = Sim::new(&plain);
    let mut changes = sim.finish("flaky", fail());
    sim.tick_at(at(0));
    changes.extend(sim.finish("flaky", fail()));
    assert!(notified(&changes).is_empty(), "{changes:?}");
}
