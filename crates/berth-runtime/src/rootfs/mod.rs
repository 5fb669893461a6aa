//! Root filesystem: mount plan, mounts, /dev, pivot_root, masked and read-only paths.
