//! The behaviours every [`RunStore`](crate::RunStore), [`ControlStore`](crate::ControlStore)
//! (its change feed included) and [`AccessStore`](crate::AccessStore) backend must have,
//! written once over any such `S`.
//!
//! Each public `async fn` is one behaviour. It expects an empty store, asserts exact outcomes
//! and panics when the store differs: this is test code, compiled into the library (with the
//! `conformance` feature, which a backend enables from its `[dev-dependencies]`) so that every
//! backend, each in its own crate, runs the same suite.
//! [`run_store_conformance_tests!`](crate::run_store_conformance_tests) turns the whole list
//! into one `#[tokio::test]` per behaviour.

mod access;
mod changes;
mod control;
mod data_changes;
mod feed;
mod fixtures;
mod notifications;
mod records;
mod streams;
mod workers;

pub use access::{
    a_revoked_token_is_found_no_more_and_its_sessions_end,
    a_session_lives_until_it_expires_or_ends, a_token_name_is_unique_among_unrevoked_tokens,
    tokens_are_created_listed_and_found_by_hash,
};
pub use changes::{
    a_failed_apply_leaves_nothing_behind, a_later_change_to_the_same_task_in_one_batch_wins,
    an_attempt_can_start_and_finish_in_one_batch, applied_changes_read_back_exactly,
    changes_to_one_run_leave_other_runs_alone,
    changes_to_unknown_tasks_and_attempts_are_refused_by_name, every_run_state_reads_back,
    json_params_and_outputs_round_trip_exactly, timestamps_round_trip_to_the_microsecond,
};
pub use control::{
    a_calling_task_has_one_child_run, a_cancel_request_lasts_until_its_run_ends,
    a_run_is_refused_while_its_interval_has_an_active_run,
    a_scheduled_interval_gets_exactly_one_run,
    active_runs_are_the_queued_and_running_ones_oldest_interval_first,
    backfills_keep_their_runs_and_can_be_found_until_finished,
    one_service_at_a_time_with_its_health_report, pausing_is_recorded_per_workflow,
    queues_give_their_heads_in_start_order, runs_are_counted_by_workflow_and_state,
    the_recent_runs_of_each_workflow_are_its_newest_ones,
    the_same_backfill_given_twice_is_one_backfill,
};
pub use data_changes::{
    a_data_cursor_is_kept_per_workflow_and_source, an_upstream_change_starts_exactly_one_run,
};
pub use feed::{
    a_reader_behind_the_kept_events_is_told_to_reset,
    events_are_filtered_by_run_and_workflow_and_paged,
    every_state_change_is_one_event_in_commit_order, only_committed_state_changes_are_events,
};
pub use notifications::a_notification_is_recorded_once_claimed_once_and_ends_delivered_or_failed;
pub use records::{
    a_created_run_reads_back_with_its_tasks_in_order, an_unknown_run_is_absent_or_refused,
    attempts_are_listed_in_task_order_then_by_number_and_filtered_by_task,
    claiming_an_owner_is_a_compare_and_set, repinning_an_ended_run_is_a_compare_and_set,
    runs_are_filtered_by_the_start_of_their_data_interval,
    runs_are_listed_newest_first_filtered_by_workflow_and_limited,
};
pub use streams::{
    a_failure_is_recorded_until_cleared, a_paused_stream_stays_paused_until_resumed,
    a_stream_has_one_owner_claimed_by_compare_and_set,
    committed_batches_are_recorded_and_summed_per_stream,
};

/// Generates one `#[tokio::test]` per [`crate::StreamStore`] behaviour, for a backend that
/// keeps streams (issue 19); `$open` as for [`run_store_conformance_tests!`].
#[macro_export]
macro_rules! stream_store_conformance_tests {
    ($open:path) => {
        $crate::run_store_conformance_tests!(@each $open;
            a_stream_has_one_owner_claimed_by_compare_and_set,
            committed_batches_are_recorded_and_summed_per_stream,
            a_paused_stream_stays_paused_until_resumed,
            a_failure_is_recorded_until_cleared,
        );
    };
}
pub use workers::{
    a_report_ends_an_attempt_once_and_a_stop_reaches_its_holder,
    an_expired_lease_fences_out_its_holder,
    an_offered_attempt_is_claimed_once_by_a_worker_of_its_queue,
    only_reported_and_lost_attempts_are_ended, workers_are_listed_with_their_leases,
};

/// Generates one `#[tokio::test]` per conformance behaviour. `$open` is an async fn that
/// returns a fresh, empty store behind anything that dereferences to it (so that a temporary
/// folder can live as long as the store). The calling crate needs `tokio` with its macros.
///
/// ```text
/// tidewater_store::run_store_conformance_tests!(crate::fixtures::temp_sqlite_store);
/// ```
#[macro_export]
macro_rules! run_store_conformance_tests {
    ($open:path) => {
        $crate::run_store_conformance_tests!(@each $open;
            a_created_run_reads_back_with_its_tasks_in_order,
            applied_changes_read_back_exactly,
            every_run_state_reads_back,
            timestamps_round_trip_to_the_microsecond,
            json_params_and_outputs_round_trip_exactly,
            a_later_change_to_the_same_task_in_one_batch_wins,
            an_attempt_can_start_and_finish_in_one_batch,
            a_failed_apply_leaves_nothing_behind,
            changes_to_unknown_tasks_and_attempts_are_refused_by_name,
            changes_to_one_run_leave_other_runs_alone,
            runs_are_listed_newest_first_filtered_by_workflow_and_limited,
            runs_are_filtered_by_the_start_of_their_data_interval,
            attempts_are_listed_in_task_order_then_by_number_and_filtered_by_task,
            claiming_an_owner_is_a_compare_and_set,
            repinning_an_ended_run_is_a_compare_and_set,
            an_unknown_run_is_absent_or_refused,
            a_scheduled_interval_gets_exactly_one_run,
            active_runs_are_the_queued_and_running_ones_oldest_interval_first,
            backfills_keep_their_runs_and_can_be_found_until_finished,
            pausing_is_recorded_per_workflow,
            one_service_at_a_time_with_its_health_report,
            a_cancel_request_lasts_until_its_run_ends,
            queues_give_their_heads_in_start_order,
            the_same_backfill_given_twice_is_one_backfill,
            a_run_is_refused_while_its_interval_has_an_active_run,
            runs_are_counted_by_workflow_and_state,
            the_recent_runs_of_each_workflow_are_its_newest_ones,
            a_calling_task_has_one_child_run,
            tokens_are_created_listed_and_found_by_hash,
            a_token_name_is_unique_among_unrevoked_tokens,
            a_revoked_token_is_found_no_more_and_its_sessions_end,
            a_session_lives_until_it_expires_or_ends,
            every_state_change_is_one_event_in_commit_order,
            only_committed_state_changes_are_events,
            events_are_filtered_by_run_and_workflow_and_paged,
            a_reader_behind_the_kept_events_is_told_to_reset,
            an_upstream_change_starts_exactly_one_run,
            a_data_cursor_is_kept_per_workflow_and_source,
            a_notification_is_recorded_once_claimed_once_and_ends_delivered_or_failed,
        );
    };
    (@each $open:path; $($behaviour:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let store = $open().await;
                $crate::conformance::$behaviour(&*store).await;
            }
        )+
    };
}

/// Generates one `#[tokio::test]` per behaviour of a [`WorkerStore`](crate::WorkerStore)
/// (the stores that serve `tidewater worker`), like
/// [`run_store_conformance_tests!`](crate::run_store_conformance_tests).
#[macro_export]
macro_rules! worker_store_conformance_tests {
    ($open:path) => {
        $crate::run_store_conformance_tests!(@each $open;
            an_offered_attempt_is_claimed_once_by_a_worker_of_its_queue,
            an_expired_lease_fences_out_its_holder,
            a_report_ends_an_attempt_once_and_a_stop_reaches_its_holder,
            only_reported_and_lost_attempts_are_ended,
            workers_are_listed_with_their_leases,
        );
    };
}
