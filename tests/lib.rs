//! End-to-end tests of kiss-rs against the sandbox live in `tests/`.
