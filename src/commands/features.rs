//! `berth features`: the runtime-spec `features.md` document (the library owns it, so that the
//! shim's `-info` answer carries the same document).

pub use berth_runtime::features::features;
