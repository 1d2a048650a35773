//! The EventBridge service of Postroom.
//!
//! Buses, rules and targets are documents in the store. PutEvents matches
//! each event against the rules of its bus with the shared pattern engine
//! and queues one durable delivery job per target; [`delivery`] workers
//! deliver them with the target's retry policy and dead-letter queue.
//! Requests and responses are AWS JSON 1.1 documents.

mod archive;
mod delivery;
mod error;
mod model;
mod operation;
mod put_events;
mod schedule;
mod scheduler;
mod service;
mod targets;
mod transform;

pub use error::{ErrorKind, EventsError};
pub use operation::EventsOperation;
pub use service::{EventsContext, EventsService};
