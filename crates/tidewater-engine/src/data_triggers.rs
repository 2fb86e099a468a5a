//! The service's part for data-aware schedules (`schedule: { on: [...] }`): on each turn,
//! every upstream change a scheduled workflow has not consumed yet becomes one run.
//!
//! A change is consumed with [`ControlStore::create_data_run`], which records it in the
//! transaction that creates its run, so that a service killed at any moment and started
//! again never starts a second run for it. How far each workflow looked at each source is a
//! cursor written after the runs (`set_data_cursor`); a crash in between only looks again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tidewater_core::{
    DataTrigger, RunStateKind, TableName, Timestamp, WorkflowName, partition_date,
};
use tidewater_runner::CommitProbe;
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{
    ControlStore, DataChange, EventFilter, EventPage, EventSeq, FeedChange, RunStore, RunTrigger,
};

use crate::{EngineError, ServiceObserver, new_run};

/// How many feed events one look at an upstream workflow reads; the rest wait for the next
/// turn, so one turn stays short behind a long history.
const EVENTS_PER_LOOK: u32 = 1000;

/// What the service remembers between turns: the problems it reported already, so that a
/// table that cannot be read is reported once, not every two seconds.
#[derive(Default)]
pub(crate) struct DataTriggers {
    reported: HashMap<(WorkflowName, String), String>,
}

impl DataTriggers {
    /// Consumes every new upstream change of every unpaused workflow's data triggers.
    pub(crate) async fn consume<S: RunStore + ControlStore + ?Sized>(
        &mut self,
        store: &S,
        commits: Option<&Arc<dyn CommitProbe>>,
        workflows: impl Iterator<Item = &Arc<LoadedWorkflow>>,
        paused: &HashSet<WorkflowName>,
        observer: &dyn ServiceObserver,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        for loaded in workflows {
            let name = &loaded.workflow.name;
            // Paused: the changes wait, as intervals do, and are consumed on unpause.
            if paused.contains(name) {
                continue;
            }
            for trigger in &loaded.workflow.data_triggers {
                let look = Look {
                    store,
                    loaded,
                    source: trigger.source_key(),
                    observer,
                    now,
                };
                let outcome = match trigger {
                    DataTrigger::Table(table) => match commits {
                        Some(commits) => look.table(&**commits, table).await?,
                        None => Err(format!(
                            "cannot read {table}: this process has no warehouse"
                        )),
                    },
                    DataTrigger::Workflow(upstream) => look.workflow(upstream).await?,
                };
                let key = (name.clone(), look.source);
                match outcome {
                    Ok(()) => {
                        self.reported.remove(&key);
                    }
                    Err(message) => {
                        if self.reported.get(&key) != Some(&message) {
                            observer.problem(&format!("{name}: {message}"));
                            self.reported.insert(key, message);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One workflow looking at one of its sources.
struct Look<'a, S: ?Sized> {
    store: &'a S,
    loaded: &'a LoadedWorkflow,
    source: String,
    observer: &'a dyn ServiceObserver,
    now: Timestamp,
}

impl<S: RunStore + ControlStore + ?Sized> Look<'_, S> {
    /// The commits after the cursor: one run per partition each wrote whose value is a date.
    /// A store failure is the service's (`Err`); a table that cannot be read is reported and
    /// looked at again next turn (`Ok(Err)`).
    async fn table(
        &self,
        commits: &dyn CommitProbe,
        table: &TableName,
    ) -> Result<Result<(), String>, EngineError> {
        let workflow = &self.loaded.workflow;
        let cursor = self.store.data_cursor(&workflow.name, &self.source).await?;
        let after = cursor.and_then(|cursor| u64::try_from(cursor).ok());
        let (found, newest) = match commits.commits_after(table, after).await {
            Ok(found) => found,
            Err(message) => {
                return Ok(Err(format!(
                    "cannot read the commits of {table}: {message}"
                )));
            }
        };
        for commit in found {
            for partition in &commit.partitions {
                // The first partition value that is a date names the interval; a partition
                // without one (`region = eu`) starts nothing.
                let Some(date) = partition
                    .iter()
                    .find_map(|(_, value)| value.as_deref().and_then(partition_date))
                else {
                    continue;
                };
                if workflow.start.is_some_and(|start| date < start) {
                    continue;
                }
                let Some(interval) = workflow.data_interval_for_date(date) else {
                    continue;
                };
                let change = DataChange {
                    source: self.source.clone(),
                    change: i64::try_from(commit.version).unwrap_or(i64::MAX),
                    partition: partition_text(partition),
                };
                self.create(interval, &change).await?;
            }
        }
        if let Some(newest) = newest.and_then(|newest| i64::try_from(newest).ok())
            && cursor != Some(newest)
        {
            self.store
                .set_data_cursor(&workflow.name, &self.source, newest)
                .await?;
        }
        Ok(Ok(()))
    }

    /// The upstream workflow's runs that succeeded since the cursor (the store's change
    /// feed): one run each, for the interval that holds the start of the upstream one.
    async fn workflow(&self, upstream: &WorkflowName) -> Result<Result<(), String>, EngineError> {
        let workflow = &self.loaded.workflow;
        let cursor = self
            .store
            .data_cursor(&workflow.name, &self.source)
            .await?
            .unwrap_or(0);
        let filter = EventFilter {
            run: None,
            workflow: Some(upstream.clone()),
        };
        let page = self
            .store
            .events_after(EventSeq(cursor), &filter, EVENTS_PER_LOOK)
            .await?;
        let (events, through) = match page {
            EventPage::Events { events, through } => (events, through),
            EventPage::Reset { latest } => {
                // The events since the cursor are no longer kept: the runs that succeeded
                // meanwhile cannot be told apart, and starting none is safer than guessing.
                self.store
                    .set_data_cursor(&workflow.name, &self.source, latest.0)
                    .await?;
                return Ok(Err(format!(
                    "missed changes of workflow {upstream} (the store's change feed was pruned past them); following it from now on"
                )));
            }
        };
        for event in events {
            if event.change != FeedChange::Run(RunStateKind::Succeeded) {
                continue;
            }
            let Some(run) = self.store.run(event.run).await? else {
                continue;
            };
            let Some(interval) = workflow.data_interval_holding(run.interval.start) else {
                continue;
            };
            let change = DataChange {
                source: self.source.clone(),
                change: run.id.0,
                partition: run.interval.start.to_rfc3339(),
            };
            self.create(interval, &change).await?;
        }
        if through.0 != cursor {
            self.store
                .set_data_cursor(&workflow.name, &self.source, through.0)
                .await?;
        }
        Ok(Ok(()))
    }

    async fn create(
        &self,
        interval: tidewater_core::DataInterval,
        change: &DataChange,
    ) -> Result<(), EngineError> {
        let run = new_run(self.loaded, interval, RunTrigger::Data, None, self.now);
        if let Some(record) = self.store.create_data_run(run, change).await? {
            self.observer.run_created(&record);
        }
        Ok(())
    }
}

/// `dt=2026-01-03`, `dt=2026-01-03/region=eu`: a partition as the store records it.
fn partition_text(partition: &[(String, Option<String>)]) -> String {
    partition
        .iter()
        .map(|(column, value)| format!("{column}={}", value.as_deref().unwrap_or("null")))
        .collect::<Vec<_>>()
        .join("/")
}
