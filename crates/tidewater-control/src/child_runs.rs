//! [`ProjectChildRuns`]: the child runs of `call` tasks, recorded in the project's store with
//! the run and task that called them, and executed by the live server or by this process.
//!
//! Who executes a child: the server, when one is live (the child is queued like any run and
//! the server woken; its queue's `max_active_runs` applies). Without one, the process that
//! executes the parent (a foreground `tidewater run`, `retry` or backfill) executes the child
//! too, on the same executor, so that the child's tasks share its task queue, pools and
//! parallelism: nobody else would, and the parent would wait for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use tidewater_core::{FailureClass, RunId, RunState, TaskState, WorkflowName};
use tidewater_engine::{
    CancelHandle, ChildEnd, ChildRequest, ChildRunError, ChildRuns, EngineError, Executor, Owners,
    Resume, Wakeups, new_run, requeue,
};
use tidewater_spec::Project;
use tidewater_store::{RunParent, RunRecord, RunTrigger};

use crate::manual_run::{IntervalRequest, requested_interval, requested_params};
use crate::{ProjectStore, live_service};

/// Child runs of the project's `call` tasks (see the module's doc).
pub(crate) struct ProjectChildRuns {
    project: Project,
    store: Arc<ProjectStore>,
    owners: Arc<dyn Owners>,
    wakeups: Arc<dyn Wakeups>,
    /// The executor these child runs are installed in, which executes a child here when no
    /// server runs; weak, because that executor owns its runners and so this.
    executor: OnceLock<Weak<Executor<ProjectStore>>>,
    /// Children executed by this process: how to cancel each, and why it stopped if its
    /// executor failed (its record then no longer follows it).
    local: Arc<Mutex<HashMap<RunId, LocalChild>>>,
}

struct LocalChild {
    cancel: CancelHandle,
    error: Option<String>,
}

impl ProjectChildRuns {
    pub(crate) fn new(
        project: Project,
        store: Arc<ProjectStore>,
        owners: Arc<dyn Owners>,
        wakeups: Arc<dyn Wakeups>,
    ) -> ProjectChildRuns {
        ProjectChildRuns {
            project,
            store,
            owners,
            wakeups,
            executor: OnceLock::new(),
            local: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Names the executor that executes children here when no server runs.
    pub(crate) fn execute_with(&self, executor: &Arc<Executor<ProjectStore>>) {
        let _ = self.executor.set(Arc::downgrade(executor));
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, LocalChild>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The child recorded for the request's run and task, else a new one.
    async fn find_or_create(&self, request: &ChildRequest) -> Result<RunRecord, ChildRunError> {
        let recorded = self
            .store
            .child_runs(request.parent)
            .await
            .map_err(environment)?
            .into_iter()
            .find(|(task, _)| *task == request.task);
        if let Some((_, id)) = recorded
            && let Some(record) = self.store.run(id).await.map_err(environment)?
        {
            return Ok(record);
        }
        self.refuse_cycle(request).await?;
        let loaded = self
            .project
            .load_workflow(request.workflow.as_str())
            .map_err(|diagnostics| {
                input(format!(
                    "workflow {} does not load:\n{}",
                    request.workflow,
                    diagnostics.render(false)
                ))
            })?;
        let interval = match &request.date {
            None => request.interval,
            Some(date) => requested_interval(
                &loaded.workflow,
                &IntervalRequest::Date(date.clone()),
                chrono::Utc::now(),
            )
            .map_err(|error| input(format!("`date: {date}`: {error}")))?,
        };
        let mut run = new_run(
            &loaded,
            interval,
            RunTrigger::Manual,
            None,
            chrono::Utc::now(),
        );
        run.params = requested_params(&loaded.workflow, &request.params)
            .map_err(|error| input(error.to_string()))?;
        let parent = RunParent {
            run: request.parent,
            task: request.task.clone(),
        };
        self.store
            .create_child_run(&parent, run)
            .await
            .map_err(environment)
    }

    /// `validate` refuses workflows that call each other in a circle; a run pinned to an
    /// older version could still close one, so the runs above are checked too: a cycle
    /// would start runs without end.
    async fn refuse_cycle(&self, request: &ChildRequest) -> Result<(), ChildRunError> {
        let mut chain: Vec<WorkflowName> = Vec::new();
        let mut next = Some(request.parent);
        while let Some(id) = next {
            let Some(run) = self.store.run(id).await.map_err(environment)? else {
                break;
            };
            chain.push(run.workflow.clone());
            if run.workflow == request.workflow {
                chain.reverse();
                let names: Vec<String> = chain.iter().map(ToString::to_string).collect();
                return Err(input(format!(
                    "calling workflow {} would close a cycle of calls: {} -> {}",
                    request.workflow,
                    names.join(" -> "),
                    request.workflow
                )));
            }
            next = self
                .store
                .run_parent(id)
                .await
                .map_err(environment)?
                .map(|parent| parent.run);
        }
        Ok(())
    }

    /// Sees that someone executes `child`: the live server, else this process.
    async fn hand_over(&self, child: &RunRecord) -> Result<(), ChildRunError> {
        let is_ended = matches!(
            child.state,
            RunState::Failed { .. } | RunState::Cancelled { .. }
        );
        if let Some(owner) = child.owner
            && self.owners.is_alive(owner)
            && !is_ended
        {
            // Executed already (by this process, the server, or a foreground command).
            return Ok(());
        }
        let pinned = self.pinned(child).await?;
        if is_ended {
            // The task is tried again: so is the child, from its tasks that did not succeed.
            match requeue(
                &*self.store,
                &*self.owners,
                &pinned,
                child.id,
                chrono::Utc::now(),
            )
            .await
            {
                Ok(_) => {}
                // Someone holds it now (a retry, or an executor that took it up): executed.
                Err(EngineError::RunBusy { .. }) => return Ok(()),
                Err(error) => return Err(environment(error.to_string())),
            }
        }
        if let Some(server) = live_service(&*self.store, &*self.owners)
            .await
            .map_err(|error| environment(error.to_string()))?
        {
            self.wakeups.wake(server.process);
            return Ok(());
        }
        let Some(executor) = self.executor.get().and_then(Weak::upgrade) else {
            return Err(ChildRunError {
                class: FailureClass::Bug,
                message: "no executor to execute the child run here; this is a bug in tidewater"
                    .to_owned(),
            });
        };
        let cancel = CancelHandle::new();
        self.local().insert(
            child.id,
            LocalChild {
                cancel: cancel.clone(),
                error: None,
            },
        );
        let id = child.id;
        let local = self.local.clone();
        tokio::spawn(async move {
            let result = executor.execute(&pinned, id, Resume::Failed, &cancel).await;
            let mut local = local.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                // Its record says how it ended.
                Ok(_) => {
                    local.remove(&id);
                }
                Err(error) => {
                    if let Some(child) = local.get_mut(&id) {
                        child.error = Some(error.to_string());
                    }
                }
            }
        });
        Ok(())
    }

    /// The workflow version the child was created with.
    async fn pinned(&self, child: &RunRecord) -> Result<tidewater_core::Workflow, ChildRunError> {
        let source = self
            .store
            .workflow_source(child.id)
            .await
            .map_err(environment)?
            .ok_or_else(|| {
                environment(format!("run {} has no recorded workflow source", child.id))
            })?;
        self.project
            .parse_pinned(child.workflow.as_str(), &source)
            .map(|loaded| loaded.workflow)
            .map_err(|diagnostics| {
                input(format!(
                    "the workflow version child run {} was created with no longer loads:\n{}",
                    child.id,
                    diagnostics.render(false)
                ))
            })
    }

    /// Why a failed or cancelled child ended: its failed tasks.
    async fn failure(&self, child: &RunRecord) -> Result<String, String> {
        let failed: Vec<String> = self
            .store
            .task_instances(child.id)
            .await
            .map_err(|error| error.to_string())?
            .into_iter()
            .filter(|(_, instance)| matches!(instance.state, TaskState::Failed { .. }))
            .map(|(task, _)| task.to_string())
            .collect();
        let how = match child.state {
            RunState::Cancelled { .. } => "was cancelled",
            _ => "failed",
        };
        Ok(match failed.as_slice() {
            [] => format!(
                "child run {} of workflow {} {how}",
                child.id, child.workflow
            ),
            tasks => format!(
                "child run {} of workflow {} {how}: failed tasks {}",
                child.id,
                child.workflow,
                tasks.join(", ")
            ),
        })
    }
}

#[async_trait::async_trait]
impl ChildRuns for ProjectChildRuns {
    async fn start_child(&self, request: ChildRequest) -> Result<RunId, ChildRunError> {
        let child = self.find_or_create(&request).await?;
        if !matches!(child.state, RunState::Succeeded { .. }) {
            self.hand_over(&child).await?;
        }
        Ok(child.id)
    }

    async fn child_end(&self, child: RunId) -> Result<Option<ChildEnd>, String> {
        let (error, local_cancel) = match self.local().get(&child) {
            Some(local) => (local.error.clone(), Some(local.cancel.clone())),
            None => (None, None),
        };
        if let Some(error) = error {
            return Ok(Some(ChildEnd::Failed {
                message: format!("child run {child} stopped: {error}"),
            }));
        }
        // A child this process executes is cancelled here when someone asks for it by its
        // own id (`tidewater cancel CHILD`): this process's watcher looks at its parent only.
        if let Some(cancel) = local_cancel
            && self
                .store
                .cancel_requests()
                .await
                .is_ok_and(|requests| requests.contains(&child))
        {
            cancel.cancel();
        }
        let record = self
            .store
            .run(child)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("child run {child} is not in the store"))?;
        Ok(match record.state {
            RunState::Succeeded { .. } => Some(ChildEnd::Succeeded),
            RunState::Failed { .. } | RunState::Cancelled { .. } => Some(ChildEnd::Failed {
                message: self.failure(&record).await?,
            }),
            RunState::Queued | RunState::Running { .. } => None,
        })
    }

    async fn cancel_child(&self, child: RunId) {
        if let Some(local) = self.local().get(&child) {
            local.cancel.cancel();
            return;
        }
        // Executed elsewhere: asked through the store, like `tidewater cancel`, and its
        // executor (or the server, for a queued child) woken. A child that already ended has
        // nothing to cancel.
        if let Ok(true) = self.store.request_cancel(child, chrono::Utc::now()).await
            && let Ok(Some(record)) = self.store.run(child).await
        {
            let owner = record.owner.filter(|owner| self.owners.is_alive(*owner));
            let process = match owner {
                Some(owner) => Some(owner),
                None => live_service(&*self.store, &*self.owners)
                    .await
                    .ok()
                    .flatten()
                    .map(|service| service.process),
            };
            if let Some(process) = process {
                self.wakeups.wake(process);
            }
        }
    }
}

fn input(message: String) -> ChildRunError {
    ChildRunError {
        class: FailureClass::Input,
        message,
    }
}

fn environment(error: impl ToString) -> ChildRunError {
    ChildRunError {
        class: FailureClass::Environment,
        message: error.to_string(),
    }
}
