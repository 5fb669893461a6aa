//! `berth start`.

use anyhow::Context;
use berth_runtime::{container, state::Store};

pub fn run(store: &Store, id: &str) -> anyhow::Result<()> {
    container::start(store, id).with_context(|| format!("start container {id:?}"))
}
