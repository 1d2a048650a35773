//! Checks on names, identifiers and message contents, with the error texts
//! of SQS.

use crate::error::{ErrorKind, SqsError};
use crate::types::{MessageAttributeValue, ResponseAttributeValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use postroom_store::AttributeValue;
use std::collections::BTreeMap;

pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Largest total payload of one batch, in bytes.
pub const MAX_BATCH_BYTES: usize = 1_048_576;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Checks a queue name: 1 to 80 characters of letters, digits, hyphens and
/// underscores.
pub fn queue_name(name: &str) -> Result<(), SqsError> {
    if name.is_empty() || name.len() > 80 || !name.chars().all(is_name_char) {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(())
}

pub fn batch_entry_id(id: &str) -> Result<(), SqsError> {
    if id.is_empty() || id.len() > 80 || !id.chars().all(is_name_char) {
        return Err(SqsError::new(
            ErrorKind::InvalidBatchEntryId,
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
        ));
    }
    Ok(())
}

/// Checks the common rules of a batch: entry count, id format and
/// uniqueness. `entry_name` is the entry shape named in the error text.
pub fn batch_ids<'a>(ids: impl ExactSizeIterator<Item = Option<&'a str>>, entry_name: &str) -> Result<(), SqsError> {
    let count = ids.len();
    if count == 0 {
        return Err(SqsError::new(
            ErrorKind::EmptyBatchRequest,
            format!("There should be at least one {entry_name} in the request."),
        ));
    }
    if count > MAX_BATCH_ENTRIES {
        return Err(SqsError::new(
            ErrorKind::TooManyEntriesInBatchRequest,
            format!("Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {count}."),
        ));
    }
    // At most 10 ids, so a linear search costs less than hashing.
    let mut seen = Vec::with_capacity(count);
    for id in ids {
        let id = id.ok_or_else(|| SqsError::missing_parameter(&format!("{entry_name}.Id")))?;
        batch_entry_id(id)?;
        if seen.contains(&id) {
            return Err(SqsError::new(ErrorKind::BatchEntryIdsNotDistinct, format!("Id {id} repeated.")));
        }
        seen.push(id);
    }
    Ok(())
}

/// Returns whether SQS accepts the character in a message body or attribute value.
pub fn is_allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

const ALLOWED_CHARS_TEXT: &str =
    "Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

/// Bytes that the fast path of [`has_only_allowed_chars`] checks at once.
const ASCII_CHUNK: usize = 16;

/// Returns whether `byte` is printable ASCII (0x20 to 0x7E), tab, LF or CR.
/// [`is_allowed_char`] accepts these and also 0x7F, which this leaves to the
/// exact check.
///
/// The non-short-circuit `|` keeps the test free of branches, so that a
/// chunk of them compiles to vector compares.
fn is_allowed_ascii(byte: u8) -> bool {
    (byte.wrapping_sub(b' ') < 0x5F) | (byte == b'\t') | (byte == b'\n') | (byte == b'\r')
}

/// Returns whether every character of `text` passes [`is_allowed_char`].
///
/// Chunks of 16 bytes that are all allowed ASCII pass in one step, without
/// decoding. A chunk with any other byte is decoded character by character,
/// so the accepted set is exactly that of [`is_allowed_char`].
pub fn has_only_allowed_chars(text: &str) -> bool {
    let mut rest = text;
    while let Some(chunk) = rest.as_bytes().first_chunk::<ASCII_CHUNK>() {
        // `fold` rather than `all`: without the early exit the compiler
        // checks the whole chunk with vector instructions.
        if chunk.iter().fold(true, |allowed, &byte| allowed & is_allowed_ascii(byte)) {
            rest = &rest[ASCII_CHUNK..];
            continue;
        }
        // The last character decoded here may end past the chunk, so the
        // next chunk starts on a character boundary.
        let mut chars = rest.chars();
        while rest.len() - chars.as_str().len() < ASCII_CHUNK {
            match chars.next() {
                Some(c) if is_allowed_char(c) => {}
                Some(_) => return false,
                None => break,
            }
        }
        rest = chars.as_str();
    }
    rest.chars().all(is_allowed_char)
}

pub fn message_body(body: &str) -> Result<(), SqsError> {
    if has_only_allowed_chars(body) {
        return Ok(());
    }
    Err(SqsError::new(ErrorKind::InvalidMessageContents, format!("Invalid characters found. {ALLOWED_CHARS_TEXT}")))
}

fn attribute_name(name: &str) -> Result<(), SqsError> {
    let lower = name.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if valid {
        return Ok(());
    }
    Err(SqsError::new(
        ErrorKind::InvalidParameterValue,
        format!(
            "Message (user) attribute name '{name}' is invalid. Names can contain alphanumeric characters, \
             hyphens, underscores and periods, up to 256 characters, must not start or end with a period, \
             must not contain two periods in a row, and must not start with 'AWS.' or 'Amazon.'."
        ),
    ))
}

/// Returns whether `value` is a number that SQS accepts in a `Number` attribute:
/// an optional sign, digits with an optional fraction, and an optional
/// exponent.
fn is_number(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = all_digits(whole)
        && fraction.is_none_or(all_digits)
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return false;
    }
    // SQS keeps 38 significant digits, for magnitudes from 10^-128 to 10^126.
    let significant = format!("{whole}{}", fraction.unwrap_or_default()).trim_start_matches('0').trim_end_matches('0').len();
    let magnitude: f64 = value.parse().unwrap_or(f64::INFINITY);
    significant <= 38 && (magnitude == 0.0 || (magnitude.abs() < 1e126 && magnitude.abs() >= 1e-128))
}

/// Checks message attributes and converts them to stored values.
/// `kind` is `user` or `system`, as named in the error texts.
pub fn message_attributes(
    attributes: &BTreeMap<String, MessageAttributeValue>,
    system: bool,
) -> Result<BTreeMap<String, AttributeValue>, SqsError> {
    let kind = if system { "system" } else { "user" };
    if !system && attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!(
                "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
                attributes.len()
            ),
        ));
    }
    let mut converted = BTreeMap::new();
    for (name, value) in attributes {
        if system {
            if name != "AWSTraceHeader" {
                return Err(SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("Message system attribute name '{name}' is invalid."),
                ));
            }
        } else {
            attribute_name(name)?;
        }
        let data_type = value.data_type.as_deref().unwrap_or_default();
        if data_type.is_empty() {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("The message attribute '{name}' must contain non-empty message attribute type."),
            ));
        }
        if !value.string_list_values.is_empty() || !value.binary_list_values.is_empty() {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                "Message attribute list values in SendMessage operation are not supported.",
            ));
        }
        let base_type = data_type.split('.').next().unwrap_or_default();
        if data_type.len() > 256 || !matches!(base_type, "String" | "Number" | "Binary") {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!(
                    "The type of message ({kind}) attribute '{name}' is invalid. You must use only the following \
                     supported type prefixes: Binary, Number, String."
                ),
            ));
        }
        if system && data_type != "String" {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("The message system attribute '{name}' must be of type 'String'."),
            ));
        }
        let empty_value = || {
            SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base_type}'."),
            )
        };
        let stored = if base_type == "Binary" {
            let encoded = value.binary_value.as_deref().filter(|v| !v.is_empty()).ok_or_else(empty_value)?;
            let bytes = STANDARD.decode(encoded).map_err(|_| {
                SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("The binary value of message ({kind}) attribute '{name}' is not valid base64."),
                )
            })?;
            if bytes.is_empty() {
                return Err(empty_value());
            }
            AttributeValue { data_type: data_type.to_string(), string_value: None, binary_value: Some(bytes) }
        } else {
            let string = value.string_value.as_deref().filter(|v| !v.is_empty()).ok_or_else(empty_value)?;
            if !has_only_allowed_chars(string) || !has_only_allowed_chars(data_type) {
                return Err(SqsError::new(
                    ErrorKind::InvalidMessageContents,
                    format!("Message ({kind}) attribute '{name}' contains invalid characters. {ALLOWED_CHARS_TEXT}"),
                ));
            }
            if base_type == "Number" && !is_number(string) {
                return Err(SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("Can't cast the value of message ({kind}) attribute '{name}' to a number."),
                ));
            }
            AttributeValue { data_type: data_type.to_string(), string_value: Some(string.to_string()), binary_value: None }
        };
        converted.insert(name.clone(), stored);
    }
    Ok(converted)
}

/// Size of a message as SQS counts it against `MaximumMessageSize`: the
/// body plus each attribute's name, type and value, in bytes.
pub fn message_size(body: &str, attributes: &BTreeMap<String, AttributeValue>) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, value)| {
                name.len()
                    + value.data_type.len()
                    + value.string_value.as_ref().map_or(0, String::len)
                    + value.binary_value.as_ref().map_or(0, Vec::len)
            })
            .sum::<usize>()
}

/// Encodes a stored attribute for a response.
pub fn attribute_for_response(value: &AttributeValue) -> ResponseAttributeValue {
    ResponseAttributeValue {
        binary_value: value.binary_value.as_ref().map(|bytes| STANDARD.encode(bytes)),
        data_type: value.data_type.clone(),
        string_value: value.string_value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        assert!(queue_name("orders_v2-dlq").is_ok());
        assert!(queue_name(&"a".repeat(80)).is_ok());
        for bad in ["", "has space", "dot.fifo", &"a".repeat(81), "ümlaut"] {
            assert!(queue_name(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn numbers() {
        for good in ["0", "-7", "12.50", "+1e10", ".5", "5.", "1E-3"] {
            assert!(is_number(good), "{good} is a number");
        }
        assert!(is_number(&"9".repeat(38)));
        for bad in ["", "-", "abc", "1e", "1.2.3", "0x10", ".", "1e400", "1e126", "1e-129", &"9".repeat(39)] {
            assert!(!is_number(bad), "{bad} is not a number");
        }
    }

    #[test]
    fn body_characters() {
        assert!(message_body("tab\there\nZürich 😀").is_ok());
        assert_eq!(message_body("bell\u{7}").unwrap_err().kind, ErrorKind::InvalidMessageContents);
        assert!(message_body("\u{FFFE}").is_err());
    }

    /// Characters at the edges of the accepted ranges, with whether SQS
    /// accepts them.
    const EDGE_CHARS: &[(char, bool)] = &[
        ('\u{0}', false),
        ('\u{8}', false),
        ('\t', true),
        ('\n', true),
        ('\u{B}', false),
        ('\u{C}', false),
        ('\r', true),
        ('\u{E}', false),
        ('\u{19}', false),
        ('\u{1F}', false),
        (' ', true),
        ('~', true),
        ('\u{7F}', true),
        ('\u{80}', true),
        ('\u{9F}', true),
        ('\u{D7FF}', true),
        ('\u{E000}', true),
        ('\u{FFFD}', true),
        ('\u{FFFE}', false),
        ('\u{FFFF}', false),
        ('\u{10000}', true),
        ('\u{10FFFF}', true),
    ];

    #[test]
    fn edge_chars_alone() {
        for &(c, accepted) in EDGE_CHARS {
            assert_eq!(is_allowed_char(c), accepted, "is_allowed_char({c:?})");
            assert_eq!(has_only_allowed_chars(&c.to_string()), accepted, "body {c:?}");
        }
    }

    #[test]
    fn edge_chars_at_every_chunk_position() {
        // The prefixes shift the ASCII runs against the chunk boundaries:
        // none, by a 2-byte character, and by a 4-byte character.
        for prefix in ["", "é", "😀"] {
            for position in 0..3 * ASCII_CHUNK {
                for &(c, accepted) in EDGE_CHARS {
                    let body = format!("{prefix}{}{c}{}", "a".repeat(position), "b".repeat(2 * ASCII_CHUNK));
                    assert_eq!(has_only_allowed_chars(&body), accepted, "{c:?} after {prefix:?} and {position} bytes");
                }
            }
        }
    }

    #[test]
    fn rejected_char_after_straddling_char() {
        // An accepted 4-byte character across a chunk boundary, then a
        // rejected one in the next chunk.
        for position in ASCII_CHUNK - 3..ASCII_CHUNK {
            let accepted = format!("{}😀{}", "a".repeat(position), "b".repeat(ASCII_CHUNK));
            assert!(has_only_allowed_chars(&accepted), "accepted body at {position}");
            let rejected = format!("{}😀\u{1}{}", "a".repeat(position), "b".repeat(ASCII_CHUNK));
            assert!(!has_only_allowed_chars(&rejected), "rejected body at {position}");
        }
    }

    #[test]
    fn empty_and_exact_chunk_bodies() {
        assert!(has_only_allowed_chars(""));
        assert!(has_only_allowed_chars(&"x".repeat(ASCII_CHUNK)));
        assert!(has_only_allowed_chars(&"\t\r\n ~".repeat(4 * ASCII_CHUNK)));
        assert!(!has_only_allowed_chars(&format!("{}\u{19}", "x".repeat(ASCII_CHUNK - 1))));
    }

    proptest::proptest! {
        #[test]
        fn chunked_check_matches_char_check(text in "(\\PC|[\\x00-\\x1F\\x7F\u{FFFE}\u{FFFF}]|[ -~]{1,40}){0,40}") {
            proptest::prop_assert_eq!(has_only_allowed_chars(&text), text.chars().all(is_allowed_char));
        }
    }

    #[test]
    fn attribute_names() {
        assert!(attribute_name("order.id-1_x").is_ok());
        for bad in ["", ".x", "x.", "a..b", "AWS.thing", "amazon.x", "sp ace"] {
            assert!(attribute_name(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn batch_rules() {
        let ids = |list: &[&'static str]| list.iter().map(|id| Some(*id)).collect::<Vec<_>>();
        assert_eq!(batch_ids(ids(&[]).into_iter(), "E").unwrap_err().kind, ErrorKind::EmptyBatchRequest);
        let eleven = ids(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]);
        assert_eq!(batch_ids(eleven.into_iter(), "E").unwrap_err().kind, ErrorKind::TooManyEntriesInBatchRequest);
        assert_eq!(batch_ids(ids(&["a", "a"]).into_iter(), "E").unwrap_err().kind, ErrorKind::BatchEntryIdsNotDistinct);
        assert_eq!(batch_ids(ids(&["a b"]).into_iter(), "E").unwrap_err().kind, ErrorKind::InvalidBatchEntryId);
        assert!(batch_ids(ids(&["a", "B_1-x"]).into_iter(), "E").is_ok());
    }
}
