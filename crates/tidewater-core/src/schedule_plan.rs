//! Which scheduled runs a workflow needs now, and when it will need the next one.

use chrono::NaiveDate;

use crate::data_interval::local_midnight;
use crate::{
    BackfillOrder, BackfillPlan, BackfillRange, DataInterval, Schedule, Timestamp, Workflow,
};

/// A workflow's schedule with the settings that decide which of its intervals get runs.
///
/// It keeps no state: what a scheduler has already done is passed in as the end of the
/// latest interval it created, which the store keeps. So a scheduler that restarts, or
/// that asks twice, gets the same answer, and every interval it is told to create starts
/// at or after that end: no interval is created twice and none overlaps an earlier one.
#[derive(Debug, Clone, Copy)]
pub struct SchedulePlan<'a> {
    pub schedule: &'a Schedule,
    pub timezone: chrono_tz::Tz,
    /// The first interval starts at or after local midnight of this date.
    pub start: Option<NaiveDate>,
    /// Create runs for every interval that ended since the last one created (or since
    /// `start`), rather than only for the latest.
    pub catchup: bool,
}

/// The answer to "what is due now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRuns {
    /// The intervals whose runs must be created now, oldest first.
    pub intervals: Vec<DataInterval>,
    /// When the next interval ends, so the scheduler can sleep until then; after `now`.
    /// `None` when the schedule never fires again.
    pub next_due: Option<Timestamp>,
}

impl<'a> SchedulePlan<'a> {
    /// The plan of a scheduled workflow; `None` for a workflow that runs only when asked.
    pub fn for_workflow(workflow: &'a Workflow) -> Option<SchedulePlan<'a>> {
        let schedule = workflow.schedule.as_ref()?;
        Some(SchedulePlan {
            schedule,
            timezone: workflow.timezone,
            start: workflow.start,
            catchup: workflow.catchup,
        })
    }

    /// The runs to create at `now`, given the end of the latest interval already created
    /// (by the scheduler or a backfill; `None` if there is none).
    ///
    /// A run is due once its interval has ended (`end <= now`). With `catchup`, every
    /// ended interval from `start` or from `last_created_end`, whichever is later; without,
    /// only the latest ended interval, if it begins at or after both. With neither `start`
    /// nor a created interval the first run is for the latest ended interval, in both
    /// modes: a new workflow does not reach back into the past unless told where to begin.
    pub fn due(&self, last_created_end: Option<Timestamp>, now: Timestamp) -> DueRuns {
        let earliest_start = self.earliest_start(last_created_end);
        let intervals = match earliest_start {
            Some(earliest) if self.catchup => self.ended_from(earliest, now),
            _ => self
                .latest_ended(now)
                .filter(|latest| earliest_start.is_none_or(|earliest| latest.start >= earliest))
                .into_iter()
                .collect(),
        };
        DueRuns {
            intervals,
            next_due: self.next_due(earliest_start, now),
        }
    }

    /// The intervals of a backfill: those starting on the range's local dates, inclusive,
    /// that have ended by `now`. `start` does not apply: a backfill is an explicit request,
    /// and reaching before `start` is a reason to ask for one.
    ///
    /// Intervals that have not ended are left out, as they are not due: a run for one
    /// would read incomplete data, and the scheduler will create it when it ends.
    pub fn backfill(&self, range: &BackfillRange, now: Timestamp) -> BackfillPlan {
        let mut intervals = Vec::new();
        let mut first_not_ended = None;
        for interval in self.range_intervals(range) {
            if interval.end > now {
                first_not_ended = Some(interval);
                break;
            }
            intervals.push(interval);
        }
        if range.order() == BackfillOrder::NewestFirst {
            intervals.reverse();
        }
        BackfillPlan {
            intervals,
            first_not_ended,
        }
    }

    /// The intervals starting on the range's local dates, inclusive, oldest first, ended or
    /// not, computed one at a time: a caller that only needs to know whether there are more
    /// than N (a cap on a backfill's size) stops after N + 1 instead of computing millions.
    pub fn range_intervals(
        &self,
        range: &BackfillRange,
    ) -> impl Iterator<Item = DataInterval> + '_ {
        let from = local_midnight(range.from(), self.timezone);
        // `None` only for the last representable date: then nothing bounds the range but
        // the schedule's end.
        let until = range
            .to()
            .succ_opt()
            .map(|after| local_midnight(after, self.timezone));
        std::iter::successors(self.interval_starting_at_or_after(from), |interval| {
            self.following(*interval)
        })
        .take_while(move |interval| until.is_none_or(|until| interval.start < until))
    }

    /// No interval starts before this: the later of `start` and the end of the last created
    /// interval.
    fn earliest_start(&self, last_created_end: Option<Timestamp>) -> Option<Timestamp> {
        let start = self.start.map(|date| local_midnight(date, self.timezone));
        start.max(last_created_end)
    }

    /// Every interval starting at or after `earliest` that has ended by `now`.
    fn ended_from(&self, earliest: Timestamp, now: Timestamp) -> Vec<DataInterval> {
        let mut intervals = Vec::new();
        let mut next = self.interval_starting_at_or_after(earliest);
        while let Some(interval) = next.filter(|interval| interval.end <= now) {
            intervals.push(interval);
            next = self.following(interval);
        }
        intervals
    }

    fn interval_starting_at_or_after(&self, at: Timestamp) -> Option<DataInterval> {
        self.schedule
            .interval_starting_at_or_after(at, self.timezone)
    }

    /// The interval right after `interval`: walking forward from one fire time to the next
    /// keeps the intervals contiguous, each end being the next start.
    fn following(&self, interval: DataInterval) -> Option<DataInterval> {
        let end = self.schedule.next_fire(interval.end, self.timezone)?;
        DataInterval::new(interval.end, end)
    }

    fn latest_ended(&self, now: Timestamp) -> Option<DataInterval> {
        self.schedule.latest_complete_interval(now, self.timezone)
    }

    /// The end of the first interval that starts at or after `earliest_start` and has not
    /// ended by `now`.
    fn next_due(&self, earliest_start: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
        // The interval in progress starts at the latest fire time at or before `now`.
        let in_progress_start = self.latest_ended(now).map(|latest| latest.end);
        let from = in_progress_start.max(earliest_start).unwrap_or(now);
        self.interval_starting_at_or_after(from)
            .map(|interval| interval.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    use crate::BackfillError;

    const SEOUL: chrono_tz::Tz = chrono_tz::Asia::Seoul;

    /// A local time in Seoul (UTC+9, no DST).
    fn seoul(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        SEOUL
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid time")
            .to_utc()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn day(d: u32) -> DataInterval {
        DataInterval::new(seoul(2026, 1, d, 0), seoul(2026, 1, d + 1, 0)).expect("ordered")
    }

    fn plan(schedule: &Schedule, start: Option<NaiveDate>, catchup: bool) -> SchedulePlan<'_> {
        SchedulePlan {
            schedule,
            timezone: SEOUL,
            start,
            catchup,
        }
    }

    fn daily() -> Schedule {
        Schedule::parse("@daily").expect("valid")
    }

    #[test]
    fn an_interval_is_due_exactly_when_it_ends() {
        let schedule = daily();
        let plan = plan(&schedule, Some(date(2026, 1, 1)), true);
        let before = plan.due(None, seoul(2026, 1, 1, 23) + chrono::Duration::minutes(59));
        assert!(before.intervals.is_empty());
        assert_eq!(before.next_due, Some(seoul(2026, 1, 2, 0)));
        let at_end = plan.due(None, seoul(2026, 1, 2, 0));
        assert_eq!(at_end.intervals, vec![day(1)]);
        assert_eq!(at_end.next_due, Some(seoul(2026, 1, 3, 0)));
    }

    #[test]
    fn catchup_creates_every_ended_interval_since_start() {
        let schedule = daily();
        let due = plan(&schedule, Some(date(2026, 1, 1)), true).due(None, seoul(2026, 1, 4, 12));
        assert_eq!(due.intervals, vec![day(1), day(2), day(3)]);
        assert_eq!(due.next_due, Some(seoul(2026, 1, 5, 0)));
    }

    #[test]
    fn catchup_resumes_after_the_last_created_interval() {
        let schedule = daily();
        let due = plan(&schedule, Some(date(2026, 1, 1)), true)
            .due(Some(seoul(2026, 1, 3, 0)), seoul(2026, 1, 5, 0));
        assert_eq!(due.intervals, vec![day(3), day(4)]);
    }

    #[test]
    fn without_catchup_only_the_latest_ended_interval_is_created() {
        let schedule = daily();
        let plan = plan(&schedule, Some(date(2026, 1, 1)), false);
        let first = plan.due(None, seoul(2026, 1, 4, 12));
        assert_eq!(first.intervals, vec![day(3)]);
        // Asked again (a restart) before the next interval ends: nothing new.
        let again = plan.due(Some(day(3).end), seoul(2026, 1, 4, 23));
        assert!(again.intervals.is_empty());
        assert_eq!(again.next_due, Some(seoul(2026, 1, 5, 0)));
        let later = plan.due(Some(day(3).end), seoul(2026, 1, 7, 1));
        assert_eq!(later.intervals, vec![day(6)]);
    }

    #[test]
    fn without_start_the_first_run_is_for_the_latest_ended_interval() {
        let schedule = daily();
        for catchup in [true, false] {
            let due = plan(&schedule, None, catchup).due(None, seoul(2026, 1, 4, 12));
            assert_eq!(due.intervals, vec![day(3)], "catchup: {catchup}");
        }
    }

    #[test]
    fn a_start_in_the_future_creates_nothing_and_is_due_after_its_first_interval() {
        let schedule = daily();
        for catchup in [true, false] {
            let due =
                plan(&schedule, Some(date(2026, 1, 10)), catchup).due(None, seoul(2026, 1, 4, 12));
            assert!(due.intervals.is_empty());
            assert_eq!(
                due.next_due,
                Some(seoul(2026, 1, 11, 0)),
                "catchup: {catchup}"
            );
        }
    }

    #[test]
    fn without_catchup_an_interval_that_began_before_start_is_not_created() {
        let schedule = daily();
        let due = plan(&schedule, Some(date(2026, 1, 4)), false).due(None, seoul(2026, 1, 4, 12));
        assert!(due.intervals.is_empty());
        assert_eq!(due.next_due, Some(seoul(2026, 1, 5, 0)));
    }

    #[test]
    fn a_created_interval_ahead_of_the_clock_is_not_created_again() {
        // A clock stepped back must not make the scheduler repeat what it created.
        let schedule = daily();
        for catchup in [true, false] {
            let due = plan(&schedule, None, catchup).due(Some(day(5).end), seoul(2026, 1, 4, 12));
            assert!(due.intervals.is_empty());
            assert_eq!(due.next_due, Some(day(6).end), "catchup: {catchup}");
        }
    }

    #[test]
    fn resuming_right_after_a_fire_time_moved_by_a_dst_gap_skips_no_interval() {
        // Regression: `30 1 * * *` in London fires at 02:00 BST on 2026-03-29 (01:30 does
        // not exist); resuming from that end once skipped the interval that starts there.
        let schedule = Schedule::parse("30 1 * * *").expect("valid");
        let london = chrono_tz::Europe::London;
        let utc = |d: u32, h: u32, m: u32| {
            chrono::Utc
                .with_ymd_and_hms(2026, 3, d, h, m, 0)
                .single()
                .expect("valid")
        };
        let plan = SchedulePlan {
            schedule: &schedule,
            timezone: london,
            start: None,
            catchup: true,
        };
        let due = plan.due(Some(utc(29, 1, 0)), utc(30, 1, 0));
        assert_eq!(
            due.intervals,
            vec![DataInterval::new(utc(29, 1, 0), utc(30, 0, 30)).expect("ordered")]
        );
    }

    #[test]
    fn a_backfill_covers_intervals_starting_on_both_dates() {
        let schedule = daily();
        let range = BackfillRange::new(
            date(2026, 1, 2),
            date(2026, 1, 4),
            BackfillOrder::OldestFirst,
        )
        .expect("ordered");
        let backfill = plan(&schedule, None, false).backfill(&range, seoul(2026, 2, 1, 0));
        assert_eq!(backfill.intervals, vec![day(2), day(3), day(4)]);
        assert_eq!(backfill.first_not_ended, None);
    }

    #[test]
    fn a_backfill_finds_the_interval_of_a_day_whose_midnight_is_skipped() {
        // Santiago skips from 00:00 to 01:00 on 2026-09-06: that day's daily interval
        // starts at 01:00, which is where the search for the date begins.
        let schedule = daily();
        let santiago = chrono_tz::America::Santiago;
        let plan = SchedulePlan {
            schedule: &schedule,
            timezone: santiago,
            start: None,
            catchup: false,
        };
        let range = BackfillRange::new(
            date(2026, 9, 6),
            date(2026, 9, 6),
            BackfillOrder::OldestFirst,
        )
        .expect("ordered");
        let backfill = plan.backfill(&range, seoul(2026, 10, 1, 0));
        let utc = |d: u32, h: u32| {
            chrono::Utc
                .with_ymd_and_hms(2026, 9, d, h, 0, 0)
                .single()
                .expect("valid")
        };
        // 01:00 -03 on the 6th to 00:00 -03 on the 7th: 23 hours.
        assert_eq!(
            backfill.intervals,
            vec![DataInterval::new(utc(6, 4), utc(7, 3)).expect("ordered")]
        );
    }

    #[test]
    fn a_reverse_backfill_goes_newest_first() {
        let schedule = Schedule::parse("0 12 * * *").expect("valid");
        let range = BackfillRange::new(
            date(2026, 1, 2),
            date(2026, 1, 3),
            BackfillOrder::NewestFirst,
        )
        .expect("ordered");
        let backfill = plan(&schedule, None, false).backfill(&range, seoul(2026, 2, 1, 0));
        let starts: Vec<Timestamp> = backfill
            .intervals
            .iter()
            .map(|interval| interval.start)
            .collect();
        assert_eq!(starts, vec![seoul(2026, 1, 3, 12), seoul(2026, 1, 2, 12)]);
    }

    #[test]
    fn a_backfill_leaves_out_intervals_that_have_not_ended() {
        let schedule = daily();
        let range = BackfillRange::new(
            date(2026, 1, 1),
            date(2026, 1, 31),
            BackfillOrder::OldestFirst,
        )
        .expect("ordered");
        let backfill =
            plan(&schedule, Some(date(2026, 1, 2)), true).backfill(&range, seoul(2026, 1, 3, 6));
        // `start` does not bound a backfill; the clock does.
        assert_eq!(backfill.intervals, vec![day(1), day(2)]);
        assert_eq!(backfill.first_not_ended, Some(day(3)));
    }

    #[test]
    fn a_backfill_range_that_ends_before_it_starts_is_an_error() {
        let error = BackfillRange::new(
            date(2026, 1, 5),
            date(2026, 1, 4),
            BackfillOrder::OldestFirst,
        )
        .expect_err("reversed");
        assert_eq!(
            error,
            BackfillError::FromAfterTo {
                from: date(2026, 1, 5),
                to: date(2026, 1, 4)
            }
        );
    }

    #[test]
    fn a_workflow_without_schedule_has_no_plan() {
        let settings = crate::WorkflowSettings {
            name: crate::WorkflowName::new("manual"),
            schedule: None,
            data_triggers: Vec::new(),
            timezone: SEOUL,
            start: None,
            catchup: false,
            max_active_runs: 1,
            max_active_tasks: None,
            params: serde_json::Map::new(),
            timeout: None,
            deadline: None,
        };
        let workflow = Workflow::new(settings, Vec::new()).expect("an empty DAG");
        assert!(SchedulePlan::for_workflow(&workflow).is_none());
    }
}
