//! Container lifecycle operations (create, start, state, kill, delete) shared by the CLI and the shim.
