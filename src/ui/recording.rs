//! A reporter that keeps every event, for tests.

use std::sync::Mutex;

use crate::engine::{Event, Reporter};

/// Records events in order.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    events: Mutex<Vec<Event>>,
}

impl Recording {
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Reporter for Recording {
    fn event(&self, event: &Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
    }
}
