//! Regeneration rules: one module per derived file, each byte-compatible with the experiment's era.

pub mod aggregate;
