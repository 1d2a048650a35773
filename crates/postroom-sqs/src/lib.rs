//! The SQS service of Postroom.
//!
//! Operations take a JSON document shaped like the AWS JSON 1.0 request of
//! that operation and return one shaped like its response. The wire layer
//! turns Query requests into the same documents, so both protocols share
//! one decoder, one set of rules and one error type ([`SqsError`]), which
//! decides the AWS error code, the HTTP status and the fault side.

mod attributes;
mod error;
mod messages;
mod move_tasks;
mod operation;
mod queues;
mod service;
mod types;
mod validate;

pub use error::{ErrorKind, SqsError};
pub use operation::SqsOperation;
pub use service::{DocumentTree, JsonText, RequestContext, ResponseEncoding, SqsService};
