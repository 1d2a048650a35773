//! The SNS service of Postroom.
//!
//! Topics and subscriptions are documents in the store. Publish checks a
//! message, applies each subscription's filter policy with the shared
//! pattern engine, and queues one durable delivery job per matching
//! subscription; [`delivery`] workers deliver them to SQS queues and HTTP
//! endpoints, signed as SNS signs them. Requests are the Query protocol's
//! parameters as JSON documents.

mod delivery;
mod delivery_policy;
mod error;
mod model;
mod operation;
mod publish;
mod service;
mod signing;

pub use error::{ErrorKind, SnsError};
pub use operation::SnsOperation;
pub use service::{SnsContext, SnsService};
pub use signing::CERTIFICATE_PATH;
