pub mod regenerate;
pub mod reconcile;
pub mod retry;
pub mod scheduler;
pub mod write;
