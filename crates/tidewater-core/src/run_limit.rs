//! The cap of one queue of runs: a workflow's `max_active_runs` or a backfill's own.

/// A queue's cap and how many of its runs count against it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimit {
    pub max_active_runs: u32,
    /// Runs of the queue being executed (running, or claimed by a live process).
    pub active: u32,
}

impl RunLimit {
    /// How many more runs may start now. A cap of 0 (refused where settings are read, but
    /// possible in an old store) counts as 1, so that a queue never waits forever.
    pub fn room(&self) -> u32 {
        self.max_active_runs.max(1).saturating_sub(self.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_what_the_cap_leaves_and_never_negative() {
        let limit = |max_active_runs, active| RunLimit {
            max_active_runs,
            active,
        };
        assert_eq!(limit(3, 1).room(), 2);
        assert_eq!(limit(2, 2).room(), 0);
        assert_eq!(limit(2, 5).room(), 0);
        assert_eq!(limit(0, 0).room(), 1);
    }
}
