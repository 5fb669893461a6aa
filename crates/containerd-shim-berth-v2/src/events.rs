//! Publishing task events to containerd, in the order they were queued.
//!
//! Callers queue events while holding the task's lock; one thread forwards them over
//! containerd's ttrpc events service, so a slow containerd never blocks an RPC handler and the
//! order of one task's events is the order of its state changes.
//!
//! The connection to containerd does not outlive a containerd restart: a failed publish
//! reconnects to `TTRPC_ADDRESS` and retries with backoff (as the Go shims' publisher does), so
//! a TaskExit that happens after containerd came back still reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

type Queued = (String, Box<dyn MessageDyn>);

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
    /// Starts the publisher thread for `namespace`.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = channel::<Queued>();
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let pending = Arc::new(AtomicUsize::new(0));
        let done = pending.clone();
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                let mut publisher = Some(publisher);
                for (topic, event) in rx.iter() {
                    let mut backoff = FIRST_BACKOFF;
                    for attempt in 1..=ATTEMPTS {
                        if publisher.is_none() {
                            publisher = RemotePublisher::new(&address).ok();
                        }
                        let result = match &publisher {
                            Some(p) => p
                                .publish(Context::default(), &topic, &namespace, event.clone_box())
                                .map_err(|e| e.to_string()),
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
    pub fn send<E: Event + MessageDyn>(&self, event: E) {
        let topic = event.topic();
        #[cfg(test)]
        if let Some(rec) = &self.recorded {
            rec.lock().unwrap().push(topic);
            return;
        }
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.fetch_add(1, Ordering::SeqCst);
        if tx.send((topic, Box::new(event))).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
