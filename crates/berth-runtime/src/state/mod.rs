//! The state store: one directory per container under the runtime root.
