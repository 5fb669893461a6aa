//! The container process: parent/child channel, namespace stage and the init checklist.
