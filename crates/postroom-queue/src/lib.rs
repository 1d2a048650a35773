//! The queue engine of Postroom.
//!
//! It owns the rules of SQS queues that must behave the same on every store
//! backend: visibility timeouts and their 12-hour limit, receipt handles,
//! delays, retention, message digests, and long polling that wakes as soon
//! as a message becomes receivable. Everything time-based reads one
//! [`Clock`], which tests can stop and move by hand.
//!
//! The engine speaks in typed values and [`EngineError`]; the AWS error codes
//! and messages belong to the service layer above it.

pub mod arn;
mod clock;
pub mod config;
pub mod digest;
mod engine;
pub mod jobs;
mod md5_lanes;
mod move_task;
pub mod receipt;
pub mod time;

pub use clock::Clock;
pub use engine::*;
pub use move_task::{MoveTaskError, MoveTaskStatus, StartMoveTask};
