//! `berth kill`.

use anyhow::Context;
use berth_runtime::{container, signal, state::Store};

pub fn run(store: &Store, id: &str, sig: &str, all: bool) -> anyhow::Result<()> {
    let signal = signal::parse_signal(sig)?;
    container::kill(store, id, signal, all).with_context(|| format!("kill container {id:?}"))
}
