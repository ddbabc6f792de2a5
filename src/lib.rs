//! darn: repairs AI-agent evaluation experiments the way `make` repairs a build.
//!
//! See `docs/ARCHITECTURE.md` for the modules, the data flow and the invariants.

pub mod era;
pub mod pyfmt;
pub mod pyjson;
pub mod pystats;
pub mod rules;
