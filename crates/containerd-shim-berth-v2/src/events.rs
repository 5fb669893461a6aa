//! Publishing task events to containerd, in the order they were queued.
//!
//! Callers queue events while holding the task's lock; one thread forwards them over
//! containerd's ttrpc events service, so a slow containerd never blocks an RPC handler and the
//! order of one task's events is the order of its state changes.
//!
//! The connection to containerd does not outlive a containerd restart: a failed publish
//! reconnects to `TTRPC_ADDRESS` and retries with backoff (as the Go shims' publisher does), so
//! a TaskExit that happens after containerd came back still reaches it.
//!
//! The envelope is built here rather than by the containerd-shim crate's `RemotePublisher`:
//! that one names the event's type from its protobuf descriptor, and building the first
//! descriptor builds those of every file the event's file imports (gogo.proto, and so
//! google/protobuf/descriptor.proto): ~460 KiB of heap held for the shim's life, in every pod
//! (docs/benchmarks.md, "Where a pod's memory goes"). Every task event is a message of
//! containerd's `containerd.events` package, so its type name is that package and the Rust
//! type's name; a unit test checks each against its descriptor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::{Client, EventsClient};
use containerd_shim::Context;

/// One event on its way: its topic and its envelope's payload.
type Queued = (String, Any);

/// Attempts per event, and the first pause between them (doubled each time).
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The queue in front of the publisher thread.
pub struct Events {
    tx: Mutex<Sender<Queued>>,
    /// Tests: the topics sent, in order, instead of publishing.
    #[cfg(test)]
    pub recorded: Option<Arc<Mutex<Vec<String>>>>,
    /// Events queued and not yet delivered (or given up on).
    pending: Arc<AtomicUsize>,
}

impl Events {
    /// Starts the publisher thread for `namespace`; it connects to containerd's ttrpc address
    /// (`TTRPC_ADDRESS`) at the first event.
    pub fn start(namespace: String) -> Events {
        let (tx, rx) = channel::<Queued>();
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                let mut publisher: Option<EventsClient> = None;
                for (topic, event) in rx.iter() {
                    let mut backoff = FIRST_BACKOFF;
                    for attempt in 1..=ATTEMPTS {
                        if publisher.is_none() {
                            publisher = connect(&address);
                        }
                        let result = match &publisher {
                            Some(p) => forward(p, &topic, &namespace, &event),
                            None => Err(format!("connect to {address}")),
                        };
                        match result {
                            Ok(()) => break,
                            Err(e) => {
                                containerd_shim::warn!("publish {topic} (attempt {attempt}): {e}");
                                // Reconnect (containerd may have restarted): at once the first
                                // time, then with backoff.
                                if publisher.take().is_none() {
                                    std::thread::sleep(backoff);
                                    backoff *= 2;
                                }
                            }
                        }
                    }
                    done.fetch_sub(1, Ordering::SeqCst);
                }
            })
            .expect("spawn the event publisher thread");
        Events {
            tx: Mutex::new(tx),
            #[cfg(test)]
            recorded: None,
            pending,
        }
    }

    /// Tests: an Events that records topics and publishes nothing.
    #[cfg(test)]
    pub fn recording() -> Events {
        let (tx, _) = channel::<Queued>();
        Events {
            tx: Mutex::new(tx),
            recorded: Some(Arc::new(Mutex::new(Vec::new()))),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits (at most `limit`) until every queued event has been delivered: the shim must not
    /// exit with a TaskExit still in its queue.
    pub fn flush(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Queues one event.
    pub fn send<E: Event + Message>(&self, event: E) {
        let topic = event.topic();
        #[cfg(test)]
        if let Some(rec) = &self.recorded {
            rec.lock().unwrap().push(topic);
            return;
        }
        let payload = match event.write_to_bytes() {
            Ok(value) => Any {
                type_url: type_name::<E>(),
                value,
                ..Default::default()
            },
            Err(e) => {
                containerd_shim::error!("encode the {topic} event: {e}");
                return;
            }
        };
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.fetch_add(1, Ordering::SeqCst);
        if tx.send((topic, payload)).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The protobuf full name of task event `E`: `containerd.events.` and the message's name (the
/// last path segment of the generated Rust type), without touching its descriptor.
fn type_name<E>() -> String {
    let rust = std::any::type_name::<E>();
    format!(
        "containerd.events.{}",
        rust.rsplit("::").next().unwrap_or(rust)
    )
}

/// A client of containerd's events service at `address` (a path or `unix://` address).
fn connect(address: &str) -> Option<EventsClient> {
    let fd = containerd_shim::util::connect(address).ok()?;
    Client::new(fd).ok().map(EventsClient::new)
}

/// Sends one event to containerd, as containerd-shim-runc-v2's publisher does (Forward with an
/// envelope holding the topic, namespace and a timestamp).
fn forward(client: &EventsClient, topic: &str, namespace: &str, event: &Any) -> Result<(), String> {
    let mut envelope = Envelope::new();
    envelope.set_topic(topic.to_owned());
    envelope.set_namespace(namespace.to_owned());
    envelope.set_timestamp(containerd_shim::util::timestamp().map_err(|e| e.to_string())?);
    envelope.set_event(event.clone());
    let mut req = ForwardRequest::new();
    req.set_envelope(envelope);
    client
        .forward(Context::default(), &req)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use containerd_shim::protos::events::task::{
        TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
        TaskResumed, TaskStart,
    };
    use containerd_shim::protos::protobuf::MessageFull;

    use super::type_name;

    /// The names built without descriptors are the descriptors' full names, for every event
    /// the shim sends.
    #[test]
    fn event_type_names_match_their_descriptors() {
        fn check<E: MessageFull>() {
            assert_eq!(type_name::<E>(), E::descriptor().full_name());
        }
        check::<TaskCreate>();
        check::<TaskStart>();
        check::<TaskDelete>();
        check::<TaskExit>();
        check::<TaskOOM>();
        check::<TaskExecAdded>();
        check::<TaskExecStarted>();
        check::<TaskPaused>();
        check::<TaskResumed>();
    }
}
