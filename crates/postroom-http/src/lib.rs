//! The HTTP front of Postroom.
//!
//! One listener serves every service. [`router`] distinguishes requests: the
//! admin API under `/_postroom/`, the AWS JSON protocols by their
//! `X-Amz-Target` header, and the Query protocol by its `Action` parameter.
//! The protocol modules decode requests into the documents the services
//! take, and encode results and errors the way AWS does on that protocol.

mod admin;
mod form;
mod identity;
mod metrics;
mod query;
mod router;
mod server;
mod sns_query;
mod xml;

pub use admin::{CLOCK_KEY, CLOCK_KIND};
pub use router::App;
pub use server::serve;
