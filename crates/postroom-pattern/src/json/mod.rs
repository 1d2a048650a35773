//! An order-preserving JSON reader for pattern texts.
//!
//! AWS validates a pattern in document order and reports the first problem it
//! meets, so this reader keeps object members in the order written (the
//! default `serde_json` map sorts them) and keeps repeated keys. It also keeps
//! the text of each number, which error messages quote.
//!
//! Syntax errors use the texts of Jackson, the JSON parser behind AWS's
//! implementation, without the `at [Source: ...]` location that Jackson
//! appends. Only the top-level value must be an object: like AWS, the reader
//! stops after the closing brace and ignores what follows it.
//!
//! NOTE: AWS parses and validates in one streaming pass, so a pattern with a
//! semantic error before a syntax error reports the semantic one. This reader
//! parses first, so such a pattern reports the syntax error.

mod scalars;

/// A parsed JSON value that keeps member order and number texts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number, as written in the pattern.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order, repeated keys included.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Returns the text of the token that starts this value, as Jackson
    /// prints it in messages such as "Invalid member in numeric match: 1".
    pub(crate) fn token_text(&self) -> String {
        match self {
            Json::Null => "null".to_string(),
            Json::Bool(value) => value.to_string(),
            Json::Number(text) => text.clone(),
            Json::String(text) => text.clone(),
            Json::Array(_) => "[".to_string(),
            Json::Object(_) => "{".to_string(),
        }
    }
}

/// Maximum nesting of arrays and objects, Jackson's default since 2.15.
const MAX_DEPTH: usize = 1000;

/// The outcome of reading a pattern text's top-level value.
pub(crate) enum Document {
    /// The text starts with an object, parsed in full.
    Object(Vec<(String, Json)>),
    /// The text is empty or starts with a valid token that is not an object.
    NotObject,
}

/// Reads the top-level object of `text`, or returns a Jackson-style message.
pub(crate) fn parse_document(text: &str) -> Result<Document, String> {
    let mut reader = Reader {
        text,
        position: 0,
        depth: 0,
    };
    reader.skip_whitespace();
    match reader.peek() {
        None => Ok(Document::NotObject),
        Some('{') => match reader.value()? {
            Json::Object(members) => Ok(Document::Object(members)),
            _ => Ok(Document::NotObject),
        },
        Some('[') | Some('"') => Ok(Document::NotObject),
        Some(_) => {
            // Jackson reads a scalar token in full, so its errors come first.
            reader.value()?;
            Ok(Document::NotObject)
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    position: usize,
    depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.position += next.len_utf8();
        Some(next)
    }

    fn skip_whitespace(&mut self) {
        while let Some(' ' | '\t' | '\n' | '\r') = self.peek() {
            self.position += 1;
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_whitespace();
        match self.peek() {
            None => Err("Unexpected end-of-input: expected a value".to_string()),
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some('"') => {
                self.position += 1;
                self.string().map(Json::String)
            }
            Some('-' | '0'..='9') => self.number().map(Json::Number),
            Some(first) if first.is_alphabetic() || first == '_' => self.keyword(),
            Some(other) => Err(format!(
                "Unexpected character ({}): expected a value",
                describe(other)
            )),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "Document nesting depth ({}) exceeds the maximum allowed ({MAX_DEPTH}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                self.depth
            ));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.position += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some('}') {
            self.position += 1;
            self.depth -= 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            match self.bump() {
                Some('"') => {}
                Some(other) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting double-quote to start field name",
                        describe(other)
                    ))
                }
                None => {
                    return Err(
                        "Unexpected end-of-input: expected close marker for Object".to_string()
                    )
                }
            }
            let name = self.string()?;
            self.skip_whitespace();
            match self.bump() {
                Some(':') => {}
                Some(other) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting a colon to separate field name and value",
                        describe(other)
                    ))
                }
                None => return Err("Unexpected end-of-input within/between Object entries".to_string()),
            }
            let value = self.value()?;
            members.push((name, value));
            self.skip_whitespace();
            match self.bump() {
                Some(',') => continue,
                Some('}') => break,
                Some(']') => return Err("Unexpected close marker ']': expected '}'".to_string()),
                Some(other) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting comma to separate Object entries",
                        describe(other)
                    ))
                }
                None => {
                    return Err(
                        "Unexpected end-of-input: expected close marker for Object".to_string()
                    )
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Object(members))
    }

    fn array(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.position += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(']') {
            self.position += 1;
            self.depth -= 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            match self.bump() {
                Some(',') => continue,
                Some(']') => break,
                Some('}') => return Err("Unexpected close marker '}': expected ']'".to_string()),
                Some(other) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting comma to separate Array entries",
                        describe(other)
                    ))
                }
                None => {
                    return Err(
                        "Unexpected end-of-input: expected close marker for Array".to_string()
                    )
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Array(items))
    }
}

fn unrecognized_token(token: &str) -> String {
    format!(
        "Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
    )
}

/// Formats a character as Jackson does in "Unexpected character" messages.
fn describe(character: char) -> String {
    if (character as u32) < 0x20 {
        format!("(CTRL-CHAR, code {})", character as u32)
    } else {
        format!("{} (code {})", quote_char(character), character as u32)
    }
}

fn quote_char(character: char) -> String {
    format!("'{character}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Vec<(String, Json)> {
        match parse_document(text) {
            Ok(Document::Object(members)) => members,
            other => panic!("expected an object from {text:?}, got {:?}", other.err()),
        }
    }

    #[test]
    fn keeps_member_order_and_duplicates() {
        let members = object(r#"{"b": 1, "a": [true, null], "b": "x"}"#);
        let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(members[0].1, Json::Number("1".to_string()));
    }

    #[test]
    fn keeps_number_text() {
        let members = object(r#"{"n": [3.018e2, -0.5, 10]}"#);
        let expected = Json::Array(vec![
            Json::Number("3.018e2".to_string()),
            Json::Number("-0.5".to_string()),
            Json::Number("10".to_string()),
        ]);
        assert_eq!(members[0].1, expected);
    }

    #[test]
    fn decodes_escapes() {
        let members = object(r#"{"s": ["a\"b\\c\u00e9\ud83d\ude00"]}"#);
        assert_eq!(
            members[0].1,
            Json::Array(vec![Json::String("a\"b\\cé😀".to_string())])
        );
    }

    #[test]
    fn ignores_text_after_top_object() {
        assert_eq!(object(r#"{"a": ["b"]} trailing"#).len(), 1);
    }

    #[test]
    fn non_objects_are_reported() {
        assert!(matches!(parse_document(""), Ok(Document::NotObject)));
        assert!(matches!(parse_document("[1, 2]"), Ok(Document::NotObject)));
        assert!(matches!(
            parse_document("\"text\""),
            Ok(Document::NotObject)
        ));
        assert!(matches!(parse_document("12"), Ok(Document::NotObject)));
    }

    #[test]
    fn syntax_errors_use_jackson_texts() {
        let error = |text: &str| parse_document(text).err().unwrap_or_default();
        assert_eq!(
            error("this is not json"),
            "Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        );
        assert_eq!(
            error("{'bad': 'quotation'}"),
            "Unexpected character (''' (code 39)): was expecting double-quote to start field name"
        );
        assert_eq!(
            error(r#"{"a": [01]}"#),
            "Invalid numeric value: Leading zeroes not allowed"
        );
        assert_eq!(
            error(r#"{"a": ["#),
            "Unexpected end-of-input: expected a value"
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("{{\"a\":{}{}}}", "[".repeat(1200), "]".repeat(1200));
        assert!(error_contains(&text, "exceeds the maximum allowed (1000"));
    }

    fn error_contains(text: &str, needle: &str) -> bool {
        parse_document(text)
            .err()
            .is_some_and(|message| message.contains(needle))
    }
}
