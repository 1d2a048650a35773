//! The SNS Query protocol as the scenarios use it: form-encoded parameters
//! in, XML out.

use std::fmt::Write as _;

/// Encodes `params` as `application/x-www-form-urlencoded`, with every byte
/// outside RFC 3986's unreserved set percent-encoded, as the AWS SDKs
/// encode Query requests.
pub fn form(params: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        push_encoded(&mut out, name);
        out.push('=');
        push_encoded(&mut out, value);
    }
    out.into_bytes()
}

fn push_encoded(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Returns the text of the first `<tag>` element of `xml`, with the five
/// predefined entities and numeric character references decoded.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(unescape(&xml[start..start + len]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semicolon) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..semicolon];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[semicolon + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encodes_reserved_bytes() {
        let body = form(&[("TopicArn", "arn:aws:sns:us-east-1:000000000000:t"), ("Message", "a b+c/é~")]);
        assert_eq!(
            String::from_utf8(body).expect("ASCII"),
            "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Message=a%20b%2Bc%2F%C3%A9~"
        );
    }

    #[test]
    fn xml_text_finds_and_decodes() {
        let xml = "<CreateTopicResponse><CreateTopicResult><TopicArn>arn:aws:sns:us-east-1:1:a&amp;b&#x41;&#66;\
                   </TopicArn></CreateTopicResult></CreateTopicResponse>";
        assert_eq!(xml_text(xml, "TopicArn").as_deref(), Some("arn:aws:sns:us-east-1:1:a&bAB"));
        assert_eq!(xml_text(xml, "MessageId"), None);
        assert_eq!(unescape("a & b &bogus; c"), "a & b &bogus; c");
    }
}
