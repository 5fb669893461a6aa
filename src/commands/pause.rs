//! `berth pause`.

use anyhow::Context;
use berth_runtime::{container, state::Store};

pub fn run(store: &Store, id: &str) -> anyhow::Result<()> {
    container::pause(store, id).with_context(|| format!("pause container {id:?}"))
}
