//! The event stream UIs subscribe to: sync state, pending count, conflicts,
//! list changes, and jobs whose vehicle access ended.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::SyncState;

/// Something a UI may want to redraw for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Sync started, reached the cloud, or could not.
    SyncStateChanged { state: SyncState },
    /// Actions waiting for sync.
    PendingCountChanged { count: u64 },
    /// Open conflicts.
    ConflictsChanged { open: u64 },
    /// Local job data changed; `job_ids` empty means "possibly many".
    JobsChanged { job_ids: Vec<String> },
    /// The technician lost vehicle access for a job: it was completed, taken
    /// over, unassigned or its connection deleted. Job-scoped credentials for
    /// it must be erased.
    AccessEnded { job_id: String, reason: String },
}

/// Fan-out of [`Event`]s to any number of subscribers.
#[derive(Clone)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    pub(crate) fn new() -> EventBus {
        let (tx, _) = broadcast::channel(1024);
        EventBus { tx }
    }

    pub(crate) fn emit(&self, event: Event) {
        tracing::debug!(?event, "event");
        // No subscriber is fine: events are hints, state is in the store.
        let _ = self.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
