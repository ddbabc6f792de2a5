//! Python-exact output: the runner's JSON bytes, its format mini-language and its statistics.

pub mod fmt;
pub mod json;
pub mod json_digest;
pub mod stats;
