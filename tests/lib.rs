//! End-to-end tests of kiss-rs against the sandbox: they live in `tests/tests/`. This crate
//! has no code of its own.
