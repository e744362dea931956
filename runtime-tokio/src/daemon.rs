//! The running daemon's shared state: the live plan every connection reads, and the
//! [`Effects`] through which management commands and signals reach the tasks.

use std::sync::Arc;

use pgexporter_core::serve::Site;
use pgexporter_net::control::{Effects, LivePlan};
use tokio::sync::watch;

use crate::collector::{Activity, ScrapeHandle};
use crate::signals::Trigger;

/// The live plan in force, with the site built from its metric definitions.
pub(crate) struct Current {
    pub(crate) plan: LivePlan,
    pub(crate) site: Arc<Site>,
}

impl Current {
    pub(crate) fn new(plan: LivePlan) -> Arc<Current> {
        let site = Arc::new(Site::new(&plan.metrics));
        Arc::new(Current { plan, site })
    }
}

/// Where connections read the live plan; a reload replaces it for connections accepted later.
pub(crate) type LiveWatch = watch::Receiver<Arc<Current>>;

/// Carries out management commands and reloads on the tokio tasks.
#[derive(Clone)]
pub(crate) struct TokioEffects {
    pub(crate) scrapes: ScrapeHandle,
    pub(crate) activity: Activity,
    pub(crate) live: Arc<watch::Sender<Arc<Current>>>,
    pub(crate) stop: Trigger,
}

impl Effects for TokioEffects {
    fn activity(&self) -> Vec<bool> {
        self.activity.borrow().clone()
    }

    fn apply(&mut self, plan: LivePlan) {
        self.scrapes.reconfigure(plan.clone());
        self.live.send_replace(Current::new(plan));
    }

    fn shutdown(&mut self) {
        self.stop.fire();
    }

    fn clear_prometheus(&mut self) {
        self.scrapes.clear();
    }
}
