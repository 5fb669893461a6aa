//! Signal names and numbers as the CLI and the OCI spec spell them.
