//! JSON output with a fast path for strings, byte for byte as serde_json
//! writes it.
//!
//! Response documents of the server carry message bodies, and request
//! documents of the load generator carry the bodies they send. serde_json
//! checks every byte of a string against a table, while these functions
//! skip runs of plain bytes sixteen at a time.

mod escape;
mod ser;

pub use escape::push_string;
pub use ser::{to_vec, Error};
