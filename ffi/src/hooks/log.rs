//! `LogSink`: the core's `tracing` output forwarded to the platform log
//! (Logcat, OSLog). A `tracing_subscriber` layer installed once per process;
//! the sink and its level can be replaced at any time.

use std::fmt::Write as _;
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<&Level> for LogLevel {
    fn from(l: &Level) -> Self {
        match *l {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// One log line of the core.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The Rust module that logged (e.g. `smartcontrol_core::sync`): a
    /// Logcat tag or an OSLog category.
    pub target: String,
    /// The message followed by its fields (`key=value`).
    pub message: String,
}

/// Receives the core's log records. Called on the thread that logged (often
/// a core runtime thread); must not block and must not call back into the
/// core.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, record: LogRecord);
}

type SinkSlot = RwLock<Option<(Arc<dyn LogSink>, LogLevel)>>;

static SINK: SinkSlot = RwLock::new(None);
static INSTALL: Once = Once::new();

/// Sends the core's logs at `max_level` and above to `sink` (replacing any
/// earlier sink). The first call installs the forwarding subscriber for the
/// process; if the process already has a global `tracing` subscriber (a Rust
/// host application), that one keeps the logs and this call only records
/// the sink.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    if let Ok(mut slot) = SINK.write() {
        *slot = Some((sink, max_level));
    }
    INSTALL.call_once(|| {
        let _ = tracing_subscriber::registry().with(ForwardLayer).try_init();
    });
}

/// Stops forwarding logs (the subscriber stays, and drops every record).
#[uniffi::export]
pub fn clear_log_sink() {
    if let Ok(mut slot) = SINK.write() {
        *slot = None;
    }
}

/// The layer: formats an event's message and fields, hands them to the sink.
struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = LogLevel::from(event.metadata().level());
        let sink = match SINK.read() {
            Ok(slot) => match slot.as_ref() {
                Some((sink, max)) if level <= *max => sink.clone(),
                _ => return,
            },
            Err(_) => return,
        };
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        sink.log(LogRecord {
            level,
            target: event.metadata().target().to_owned(),
            message: visitor.finish(),
        });
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push_field(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push_field(field, format_args!("{value:?}"));
        }
    }
}

impl MessageVisitor {
    fn push_field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={value}", field.name());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A platform log fake that keeps every record.
    #[derive(Default)]
    pub(crate) struct FakeLogcat {
        pub(crate) records: Mutex<Vec<LogRecord>>,
    }

    impl LogSink for FakeLogcat {
        fn log(&self, record: LogRecord) {
            self.records.lock().expect("lock").push(record);
        }
    }

    #[test]
    fn records_reach_the_sink_with_level_target_message_and_fields() {
        let sink = Arc::new(FakeLogcat::default());
        set_log_sink(sink.clone(), LogLevel::Info);
        tracing::info!(job_id = "J-1", count = 3, "forwarded line");
        tracing::debug!("below the level, dropped");
        let records = sink.records.lock().expect("lock").clone();
        let ours: Vec<_> = records
            .iter()
            .filter(|r| r.message.contains("forwarded line") || r.message.contains("dropped"))
            .collect();
        assert_eq!(ours.len(), 1, "{records:?}");
        assert_eq!(ours[0].level, LogLevel::Info);
        assert_eq!(ours[0].target, module_path!());
        assert_eq!(ours[0].message, "forwarded line job_id=J-1 count=3");
    }
}
