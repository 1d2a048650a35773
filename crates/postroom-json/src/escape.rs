//! JSON string literals written the way serde_json writes them, with a fast
//! path for runs of bytes that need no escape.
//!
//! serde_json looks up every byte of a string in a table, about 10
//! instructions per byte. On `send-batch` with 1 KiB bodies that was a third
//! of the load generator's instructions apart from the SigV4 payload hash
//! (counted with callgrind). The output is byte for byte what serde_json
//! writes, which the tests check.

/// Bytes that the fast path checks at once.
const CHUNK: usize = 16;

/// Returns whether JSON requires `byte` to be escaped inside a string:
/// the quote, the backslash and the control characters below 0x20.
///
/// The non-short-circuit `|` keeps the test free of branches, so that a
/// chunk of them compiles to vector compares.
fn needs_escape(byte: u8) -> bool {
    (byte < 0x20) | (byte == b'"') | (byte == b'\\')
}

/// Appends `text` to `out` as a quoted JSON string, with the escapes that
/// serde_json 1 writes: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, and
/// `\u00xx` in lowercase hexadecimal for the other control characters.
pub fn push_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // `bytes[unwritten..index]` needs no escape and is not yet in `out`.
    let mut unwritten = 0;
    let mut index = 0;
    while index < bytes.len() {
        if let Some(chunk) = bytes[index..].first_chunk::<CHUNK>() {
            if !chunk.iter().fold(false, |any, &byte| any | needs_escape(byte)) {
                index += CHUNK;
                continue;
            }
        }
        let byte = bytes[index];
        if needs_escape(byte) {
            out.extend_from_slice(&bytes[unwritten..index]);
            push_escape(out, byte);
            unwritten = index + 1;
        }
        index += 1;
    }
    out.extend_from_slice(&bytes[unwritten..]);
    out.push(b'"');
}

fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        b'\t' => b't',
        b'\n' => b'n',
        0x0C => b'f',
        b'\r' => b'r',
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[usize::from(byte >> 4)]);
            out.push(HEX_DIGITS[usize::from(byte & 0xF)]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> String {
        let mut out = Vec::new();
        push_string(&mut out, text);
        String::from_utf8(out).expect("UTF-8 output")
    }

    #[test]
    fn every_ascii_byte_matches_serde_json() {
        for byte in 0..=0x7Fu8 {
            let text = char::from(byte).to_string();
            let expected = serde_json::to_string(&text).expect("serializable");
            assert_eq!(written(&text), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn escapes_at_every_chunk_position_match_serde_json() {
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1F}", "é", "😀", "\u{7F}"] {
            for position in 0..3 * CHUNK {
                let text = format!("{}{special}{}", "a".repeat(position), "b".repeat(2 * CHUNK));
                let expected = serde_json::to_string(&text).expect("serializable");
                assert_eq!(written(&text), expected, "{special:?} after {position} bytes");
            }
        }
    }

    #[test]
    fn empty_string() {
        assert_eq!(written(""), "\"\"");
    }
}
