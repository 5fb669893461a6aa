//! Bundle loading and validation: config.json into an immutable, checked plan.
