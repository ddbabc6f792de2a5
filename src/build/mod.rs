pub mod keep;
pub mod reconcile;
pub mod regenerate;
pub mod retry;
pub mod scheduler;
pub mod write;
