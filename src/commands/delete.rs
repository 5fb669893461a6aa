//! `berth delete`.

use anyhow::Context;
use berth_runtime::{container, state::Store};

pub fn run(store: &Store, id: &str, force: bool) -> anyhow::Result<()> {
    container::delete(store, id, force).with_context(|| format!("delete container {id:?}"))
}
