//! Scalar tokens of the JSON reader: strings with their escapes, numbers
//! and the keywords `true`, `false` and `null`.

use super::{describe, quote_char, unrecognized_token, Json, Reader};

impl Reader<'_> {
    /// Reads a string body; the opening quote is already consumed.
    pub(super) fn string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err("Unexpected end-of-input: was expecting closing quote for a string value".to_string()),
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape()?),
                Some(control) if (control as u32) < 0x20 => {
                    return Err(format!(
                        "Illegal unquoted character ((CTRL-CHAR, code {})): has to be escaped using backslash to be included in string value",
                        control as u32
                    ))
                }
                Some(other) => out.push(other),
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        let escaped = match self.bump() {
            None => return Err("Unexpected end-of-input in character escape sequence".to_string()),
            Some(escaped) => escaped,
        };
        Ok(match escaped {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode_escape(),
            other => {
                return Err(format!(
                    "Unrecognized character escape {} (code {})",
                    quote_char(other),
                    other as u32
                ))
            }
        })
    }

    /// Decodes `\uXXXX`, joining a surrogate pair. A lone surrogate, which
    /// Java strings can hold and Rust strings cannot, becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.text[self.position..].starts_with("\\u") {
            let saved = self.position;
            self.position += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.position = saved;
        }
        Ok(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut value = 0;
        for _ in 0..4 {
            match self.bump() {
                Some(digit) if digit.is_ascii_hexdigit() => {
                    value = value * 16 + digit.to_digit(16).unwrap_or(0)
                }
                Some(other) => {
                    return Err(format!(
                    "Unexpected character ({}): expected a hex-digit for character escape sequence",
                    describe(other)
                ))
                }
                None => {
                    return Err("Unexpected end-of-input in character escape sequence".to_string())
                }
            }
        }
        Ok(value)
    }

    /// Reads a number with JSON's grammar and returns its text.
    pub(super) fn number(&mut self) -> Result<String, String> {
        let start = self.position;
        if self.peek() == Some('-') {
            self.position += 1;
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(self.number_error(
                    "expected digit (0-9) to follow minus sign, for valid numeric value",
                ));
            }
        }
        if self.peek() == Some('0') {
            self.position += 1;
            if matches!(self.peek(), Some('0'..='9')) {
                return Err("Invalid numeric value: Leading zeroes not allowed".to_string());
            }
        } else {
            self.digits();
        }
        if self.peek() == Some('.') {
            self.position += 1;
            if self.digits() == 0 {
                return Err(self.number_error("Decimal point not followed by a digit"));
            }
        }
        if let Some('e' | 'E') = self.peek() {
            self.position += 1;
            if let Some('+' | '-') = self.peek() {
                self.position += 1;
            }
            if self.digits() == 0 {
                return Err(self.number_error("Exponent indicator not followed by a digit"));
            }
        }
        if let Some(next) = self.peek() {
            if next.is_alphanumeric() {
                let token = self.word_from(start);
                return Err(unrecognized_token(&token));
            }
        }
        Ok(self.text[start..self.position].to_string())
    }

    fn digits(&mut self) -> usize {
        let start = self.position;
        while let Some('0'..='9') = self.peek() {
            self.position += 1;
        }
        self.position - start
    }

    fn number_error(&self, reason: &str) -> String {
        match self.peek() {
            Some(next) => format!(
                "Unexpected character ({}) in numeric value: {reason}",
                describe(next)
            ),
            None => format!("Unexpected end-of-input in a Number value: {reason}"),
        }
    }

    pub(super) fn keyword(&mut self) -> Result<Json, String> {
        let start = self.position;
        let word = self.word_from(start);
        match word.as_str() {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            "null" => Ok(Json::Null),
            _ => Err(unrecognized_token(&word)),
        }
    }

    /// Consumes the identifier-like run that starts at `start`.
    fn word_from(&mut self, start: usize) -> String {
        self.position = start;
        while let Some(next) = self.peek() {
            if next.is_alphanumeric() || next == '_' || next == '-' || next == '.' || next == '+' {
                self.position += next.len_utf8();
            } else {
                break;
            }
        }
        self.text[start..self.position].to_string()
    }
}
