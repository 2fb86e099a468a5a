//! The server's serving views, kept current: `views/*.yaml` read again when they change, and
//! a file with problems keeping its view's last good version, as a workflow file does
//! (`workflow_catalog.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::ServingView;
use tidewater_flow::LiveViews;
use tidewater_spec::Project;

use crate::workflow_catalog::{Fingerprint, fingerprint, relative_to};

/// How often the view files are compared with what was read last: the stream supervisor's
/// pace for stream files. View files are few and small, so no watcher is needed.
const LOOK: Duration = Duration::from_secs(1);

/// Reads the view files, remembering each file's last good view.
struct ViewCatalog {
    project: Arc<Project>,
    last_good: BTreeMap<PathBuf, ServingView>,
}

impl ViewCatalog {
    /// Every view file read again: the views queries read from now on (sorted by file), and
    /// what changed, for the server's log.
    fn build(&mut self) -> (Vec<ServingView>, Vec<String>) {
        let (loaded, problems) = self.project.load_views();
        let mut lines = Vec::new();
        let previous = std::mem::take(&mut self.last_good);
        for file in loaded {
            let relative = self.relative(&file.path);
            match previous.get(&file.path) {
                Some(old) if *old == file.view => {}
                Some(_) => lines.push(format!(
                    "{relative}: view {} changed; queries read the new version",
                    file.view.name
                )),
                None => lines.push(format!("{relative}: view {} loaded", file.view.name)),
            }
            self.last_good.insert(file.path, file.view);
        }
        for (path, old) in previous {
            if self.last_good.contains_key(&path) {
                continue;
            }
            let relative = self.relative(&path);
            if path.exists() {
                lines.push(format!(
                    "{relative} has problems; view {} keeps its last good version",
                    old.name
                ));
                self.last_good.insert(path, old);
            } else {
                lines.push(format!("{relative}: removed; view {} is gone", old.name));
            }
        }
        if !problems.is_empty() {
            lines.push(problems.render(false));
        }
        (self.last_good.values().cloned().collect(), lines)
    }

    fn relative(&self, path: &Path) -> String {
        relative_to(&self.project, path)
    }
}

/// Keeps `views` equal to the project's view files until the returned task is aborted:
/// read now, then again whenever a file is added, changed or removed. Each change and each
/// problem goes to `log` once.
pub(crate) fn follow_views(
    project: Arc<Project>,
    views: LiveViews,
    log: impl Fn(&str) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let mut catalog = ViewCatalog {
        project: project.clone(),
        last_good: BTreeMap::new(),
    };
    let mut seen: Option<Fingerprint> = None;
    tokio::spawn(async move {
        let mut look = tokio::time::interval(LOOK);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            look.tick().await;
            // Taken before reading the files, so that an edit made meanwhile shows as a change.
            let now = fingerprint(project.view_paths());
            if seen.as_ref() == Some(&now) {
                continue;
            }
            seen = Some(now);
            let (current, lines) = catalog.build();
            for line in &lines {
                log(line);
            }
            views.replace(current);
        }
    })
}

/// Aborts the task when dropped: the views are followed as long as the server serves.
pub(crate) struct StopOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
