//! The MD5 digests that SQS returns and that SDKs verify.
//!
//! The attribute digest covers the attributes sorted by name. Each one
//! contributes its name, its data type and its value, each preceded by its
//! length as a 4-byte big-endian integer, with a transport byte before the
//! value: 1 for `String` and `Number` types, 2 for `Binary` types.

use md5::{Digest, Md5};
use postroom_store::AttributeValue;
use std::collections::BTreeMap;

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Returns the [`md5_hex`] of each input, in order. A batch is hashed side
/// by side where the CPU has the vector instructions for it.
pub fn md5_hex_each(inputs: &[&[u8]]) -> Vec<String> {
    crate::md5_lanes::digest_each(inputs).iter().map(|digest| hex(digest)).collect()
}

/// SHA-256 in hex, the deduplication id of content-based deduplication.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Sha256;
    hex(&Sha256::digest(bytes))
}

/// Digest of message attributes, or `None` when there are none, in which
/// case SQS omits the field.
pub fn md5_of_attributes(attributes: &BTreeMap<String, AttributeValue>) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut hasher = Md5::new();
    for (name, value) in attributes {
        update_with_length(&mut hasher, name.as_bytes());
        update_with_length(&mut hasher, value.data_type.as_bytes());
        match (&value.binary_value, &value.string_value) {
            (Some(binary), _) => {
                hasher.update([2u8]);
                update_with_length(&mut hasher, binary);
            }
            (None, string) => {
                hasher.update([1u8]);
                update_with_length(&mut hasher, string.as_deref().unwrap_or_default().as_bytes());
            }
        }
    }
    Some(hex(&hasher.finalize()))
}

fn update_with_length(hasher: &mut Md5, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}
