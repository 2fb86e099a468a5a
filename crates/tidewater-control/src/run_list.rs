//! [`RunList`]: the read model behind `tidewater runs`.

use std::collections::HashMap;

use tidewater_store::{RunFilter, RunRecord};

use crate::control_error::ControlResult;
use crate::run_entry::RunEntry;
use crate::{Control, json::RunJson};

/// The runs a filter selects, newest first, and (once [`Control::date_runs`] has read them)
/// the time zone each is dated in.
#[derive(Debug, Clone)]
pub struct RunList {
    pub runs: Vec<RunEntry>,
    /// The filter narrowed the runs by state, backfill or dates: an empty list means "none match",
    /// not "none yet".
    pub is_filtered: bool,
    /// The zone of each workflow version among the runs, keyed by its hash; empty until
    /// [`Control::date_runs`].
    timezones: HashMap<String, chrono_tz::Tz>,
}

impl RunList {
    /// The zone a run's `ds` is a date in: that of the workflow version the run was created
    /// with, which a later edit of the file does not change; UTC if that version no longer
    /// parses, or not read ([`Control::date_runs`]).
    pub fn timezone(&self, record: &RunRecord) -> chrono_tz::Tz {
        self.timezones
            .get(&record.workflow_hash)
            .copied()
            .unwrap_or(chrono_tz::UTC)
    }

    /// The runs as `--json` shows them.
    pub fn json(&self) -> Vec<RunJson> {
        self.runs.iter().map(RunEntry::json).collect()
    }
}

impl Control {
    /// The runs `filter` selects, newest first. Their time zones are not read: the JSON
    /// (the API's page of runs, `--json`) has UTC times and needs none.
    pub async fn list_runs(&self, filter: &RunFilter) -> ControlResult<RunList> {
        let records = self.store.list_runs(filter).await?;
        Ok(RunList {
            runs: records
                .into_iter()
                .map(|run| RunEntry::new(run, &*self.owners))
                .collect(),
            is_filtered: filter.state.is_some()
                || filter.backfill.is_some()
                || filter.starts_from.is_some()
                || filter.starts_before.is_some(),
            timezones: HashMap::new(),
        })
    }

    /// Reads the time zone of each workflow version among the listed runs, for dating them
    /// (`ds`) as people read them. Each version's text is read from the store and parsed
    /// once; a version that no longer parses dates its runs in UTC (the runs keep their UTC
    /// intervals).
    pub async fn date_runs(&self, list: &mut RunList) -> ControlResult<()> {
        for entry in &list.runs {
            let record = &entry.record;
            if !list.timezones.contains_key(&record.workflow_hash) {
                let timezone = self.run_timezone(record).await?;
                list.timezones
                    .insert(record.workflow_hash.clone(), timezone);
            }
        }
        Ok(())
    }
}
