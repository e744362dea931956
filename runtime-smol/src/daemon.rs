//! The running daemon's shared state: the live plan every connection reads, and the
//! [`Effects`] through which management commands and signals reach the tasks.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use pgexporter_core::serve::Site;
use pgexporter_net::control::{Effects, LivePlan};

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
/// Every task runs on the one executor thread, so a shared cell is enough; it is never borrowed
/// across an `await`.
pub(crate) type LiveWatch = Rc<RefCell<Arc<Current>>>;

/// Carries out management commands and reloads on the smol tasks.
#[derive(Clone)]
pub(crate) struct SmolEffects {
    pub(crate) scrapes: ScrapeHandle,
    pub(crate) activity: Activity,
    pub(crate) live: LiveWatch,
    pub(crate) stop: Trigger,
}

impl Effects for SmolEffects {
    fn activity(&self) -> Vec<bool> {
        self.activity.borrow().clone()
    }

    fn apply(&mut self, plan: LivePlan) {
        self.scrapes.reconfigure(plan.clone());
        *self.live.borrow_mut() = Current::new(plan);
    }

    fn shutdown(&mut self) {
        self.stop.fire();
    }

    fn clear_prometheus(&mut self) {
        self.scrapes.clear();
    }
}
