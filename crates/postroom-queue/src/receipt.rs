//! Receipt handles.
//!
//! A handle is the base64 encoding of a version byte, the queue id, the
//! message sequence number and the receive nonce (each a big-endian `u64`),
//! followed by a CRC-32 check over those bytes and a fixed salt. The check
//! separates a mistyped or made-up handle from a real one. It is not a
//! secret, because every store operation verifies the nonce against the
//! message.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use postroom_store::{QueueId, Receipt};

const VERSION: u8 = 1;
const SALT: &[u8] = b"postroom receipt handle";
const ENCODED_LEN: usize = 1 + 8 + 8 + 8 + 4;

pub fn encode(queue: QueueId, receipt: Receipt) -> String {
    let mut bytes = Vec::with_capacity(ENCODED_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&queue.0.to_be_bytes());
    bytes.extend_from_slice(&receipt.seq.to_be_bytes());
    bytes.extend_from_slice(&receipt.nonce.to_be_bytes());
    let check = checksum(&bytes);
    bytes.extend_from_slice(&check.to_be_bytes());
    STANDARD.encode(bytes)
}

/// Decodes a handle into the queue it belongs to and its receipt, or `None`
/// when the handle was not issued by this server.
pub fn decode(handle: &str) -> Option<(QueueId, Receipt)> {
    let bytes = STANDARD.decode(handle).ok()?;
    if bytes.len() != ENCODED_LEN || bytes[0] != VERSION {
        return None;
    }
    let (payload, check) = bytes.split_at(ENCODED_LEN - 4);
    if checksum(payload).to_be_bytes() != check {
        return None;
    }
    let word = |at: usize| u64::from_be_bytes(payload[at..at + 8].try_into().unwrap_or_default());
    Some((QueueId(word(1)), Receipt { seq: word(9), nonce: word(17) }))
}

fn checksum(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(SALT);
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let receipt = Receipt { seq: 42, nonce: 0xdead_beef };
        let handle = encode(QueueId(7), receipt);
        assert_eq!(decode(&handle), Some((QueueId(7), receipt)));
    }

    #[test]
    fn forged_handles_are_rejected() {
        assert_eq!(decode("not a handle"), None);
        assert_eq!(decode(""), None);
        let mut handle = encode(QueueId(7), Receipt { seq: 42, nonce: 1 }).into_bytes();
        handle[5] = if handle[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode(&String::from_utf8(handle).expect("ascii")), None);
    }
}
