//! `berth state`: the OCI state JSON (runtime.md "State").

use anyhow::Context;
use berth_runtime::container::OciState;
use berth_runtime::state::{ContainerId, Store};

pub fn run(store: &Store, id: &str) -> anyhow::Result<()> {
    let state = ContainerId::new(id)
        .and_then(|cid| store.read(&cid))
        .with_context(|| format!("state of container {id:?}"))?;
    let mut oci = OciState::new(&state);
    // runc's `state` leaves `owner` empty (only `list` fills it in, from the state directory's
    // owner); clients comparing the two runtimes' output see the same JSON.
    oci.owner.clear();
    super::print_json(&oci)
}
