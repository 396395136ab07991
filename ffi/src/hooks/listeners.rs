//! Listener foreign traits (core events, workflow progress) and the
//! subscription handle that stops delivery on `cancel()` or drop.

use std::sync::{Arc, Mutex};

use smartcontrol_core::SmartControl;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::types::{CoreEvent, WorkflowProgress};

/// Receives the core's events: first `CoreEvent.Status` with the current
/// state, then each change. Called on a core runtime thread, one event at a
/// time and in order; must return quickly (post to the UI, don't work).
#[uniffi::export(with_foreign)]
pub trait CoreListener: Send + Sync {
    fn on_event(&self, event: CoreEvent);
}

/// Receives the installation workflow's progress, in order, on a core
/// runtime thread.
#[uniffi::export(with_foreign)]
pub trait WorkflowListener: Send + Sync {
    fn on_progress(&self, progress: WorkflowProgress);
}

/// A live subscription; `cancel()` (or dropping it: `close()` in Kotlin,
/// deinit in Swift) stops delivery.
#[derive(uniffi::Object)]
pub struct Subscription {
    task: Mutex<Option<JoinHandle<()>>>,
}

#[uniffi::export]
impl Subscription {
    /// Stops delivering events; idempotent.
    pub fn cancel(&self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(t) = task.take() {
                t.abort();
            }
        }
    }

    /// Whether events are still delivered.
    pub fn is_active(&self) -> bool {
        self.task
            .lock()
            .map(|t| t.as_ref().is_some_and(|t| !t.is_finished()))
            .unwrap_or(false)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Subscription {
    /// Subscribes before reading the current state, so no change between
    /// the two is lost; delivers the state, then every event. A listener
    /// that falls behind by more than the bus holds gets a fresh `Status`
    /// and a "possibly many jobs changed" instead of the missed events.
    pub(crate) fn start(
        runtime: &tokio::runtime::Runtime,
        core: SmartControl,
        listener: Arc<dyn CoreListener>,
    ) -> Subscription {
        let mut rx = core.subscribe();
        let task = runtime.spawn(async move {
            let snapshot = |core: &SmartControl, listener: &Arc<dyn CoreListener>| match core
                .status()
            {
                Ok(status) => listener.on_event(CoreEvent::Status {
                    status: status.into(),
                }),
                Err(e) => tracing::warn!(error = %e, "cannot read the sync status for a listener"),
            };
            snapshot(&core, &listener);
            loop {
                match rx.recv().await {
                    Ok(event) => listener.on_event(event.into()),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "listener lagged; sending a fresh status");
                        snapshot(&core, &listener);
                        listener.on_event(CoreEvent::JobsChanged { job_ids: vec![] });
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Subscription {
            task: Mutex::new(Some(task)),
        }
    }
}
