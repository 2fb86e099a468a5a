//! The serving views a warehouse's queries read, replaceable while queries run: a server
//! picks up changed `views/*.yaml` without a restart.

use std::sync::{Arc, RwLock};

use tidewater_core::ServingView;

/// A set of serving views shared by every [`crate::Warehouse`] made with it
/// ([`crate::Warehouse::with_live_views`]): [`LiveViews::replace`] changes what each one's
/// next query reads. A query takes the set once, as it plans, so a replacement never
/// changes a query half-way.
#[derive(Debug, Clone, Default)]
pub struct LiveViews {
    current: Arc<RwLock<Arc<[ServingView]>>>,
}

impl LiveViews {
    pub fn new(views: Vec<ServingView>) -> LiveViews {
        LiveViews {
            current: Arc::new(RwLock::new(Arc::from(views))),
        }
    }

    /// The views now, in the order given.
    pub fn current(&self) -> Arc<[ServingView]> {
        match self.current.read() {
            Ok(current) => current.clone(),
            // A panic while replacing left a whole set behind: the lock only swaps an Arc.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// From now on, queries read these views.
    pub fn replace(&self, views: Vec<ServingView>) {
        let views: Arc<[ServingView]> = Arc::from(views);
        match self.current.write() {
            Ok(mut current) => *current = views,
            Err(poisoned) => *poisoned.into_inner() = views,
        }
    }
}
