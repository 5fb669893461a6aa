//! `berth resume`.

use anyhow::Context;
use berth_runtime::{container, state::Store};

pub fn run(store: &Store, id: &str) -> anyhow::Result<()> {
    container::resume(store, id).with_context(|| format!("resume container {id:?}"))
}
