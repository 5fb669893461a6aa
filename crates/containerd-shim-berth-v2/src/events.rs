//! Publishing task events to containerd, in the order they were queued.
//!
//! Callers queue events while holding the task's lock; one thread forwards them over
//! containerd's ttrpc events service, so a slow containerd never blocks an RPC handler and the
//! order of one task's events is the order of its state changes.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

type Queued = (String, Box<dyn MessageDyn>);

/// The queue in front of the publisher thread.
pub struct Events {
    tx: Mutex<Sender<Queued>>,
}

impl Events {
    /// Starts the publisher thread for `namespace`.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = channel::<Queued>();
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for (topic, event) in rx.iter() {
                    if let Err(e) = publisher.publish(Context::default(), &topic, &namespace, event)
                    {
                        containerd_shim::warn!("publish {topic}: {e}");
                    }
                }
            })
            .expect("spawn the event publisher thread");
        Events { tx: Mutex::new(tx) }
    }

    /// Queues one event.
    pub fn send<E: Event + MessageDyn>(&self, event: E) {
        let topic = event.topic();
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send((topic, Box::new(event)));
    }
}
