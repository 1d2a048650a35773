//! Wildcard patterns, an EventBridge operator.
//!
//! `*` matches any run of characters, including none. `\*` is a literal
//! asterisk and `\\` a literal backslash; any other backslash, and two
//! asterisks in a row, make the pattern invalid.

/// One element of a parsed wildcard pattern.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    Byte(u8),
    Star,
}

/// A parsed wildcard pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Wildcard {
    tokens: Vec<Token>,
}

impl Wildcard {
    /// Parses a wildcard pattern, or returns AWS's reason for rejecting it.
    ///
    /// Positions in the messages are byte offsets counted from the opening
    /// quote of the JSON string, as AWS counts them.
    pub(crate) fn parse(text: &str) -> Result<Wildcard, String> {
        let bytes = text.as_bytes();
        let mut tokens = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            let position = index + 1;
            match bytes[index] {
                b'*' => {
                    if bytes.get(index + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {position}"));
                    }
                    tokens.push(Token::Star);
                }
                b'\\' => match bytes.get(index + 1) {
                    Some(&escaped @ (b'*' | b'\\')) => {
                        tokens.push(Token::Byte(escaped));
                        index += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {position}")),
                },
                byte => tokens.push(Token::Byte(byte)),
            }
            index += 1;
        }
        Ok(Wildcard { tokens })
    }

    /// Number of `*` wildcards in the pattern.
    pub(crate) fn star_count(&self) -> usize {
        self.tokens
            .iter()
            .filter(|token| **token == Token::Star)
            .count()
    }

    /// Tells whether the pattern begins with a `*` wildcard.
    pub(crate) fn starts_with_star(&self) -> bool {
        self.tokens.first() == Some(&Token::Star)
    }

    /// Tells whether `value` matches the whole pattern.
    ///
    /// Greedy matching that returns to the last `*` on a mismatch; it takes
    /// at most pattern length times value length steps.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let value = value.as_bytes();
        let (mut token, mut byte) = (0, 0);
        let mut last_star: Option<(usize, usize)> = None;
        while byte < value.len() {
            match self.tokens.get(token) {
                Some(Token::Byte(expected)) if *expected == value[byte] => {
                    token += 1;
                    byte += 1;
                }
                Some(Token::Star) => {
                    last_star = Some((token, byte));
                    token += 1;
                }
                _ => match last_star {
                    Some((star, consumed)) => {
                        token = star + 1;
                        byte = consumed + 1;
                        last_star = Some((star, consumed + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[token..].iter().all(|rest| *rest == Token::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wildcard(text: &str) -> Wildcard {
        Wildcard::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn stars_match_any_run() {
        let pattern = wildcard("arn:aws:events:*:*:event-bus/*");
        assert!(pattern.matches("arn:aws:events:us-east-1:123456789012:event-bus/default"));
        assert!(pattern.matches("arn:aws:events:::event-bus/"));
        assert!(!pattern.matches("arn:aws:sqs:us-east-1:123456789012:queue"));
    }

    #[test]
    fn escapes_are_literal() {
        let pattern = wildcard(r"a\*b\\c*");
        assert!(pattern.matches(r"a*b\c"));
        assert!(pattern.matches(r"a*b\cdef"));
        assert!(!pattern.matches(r"axb\c"));
    }

    #[test]
    fn backtracks_over_repeated_sequences() {
        let pattern = wildcard("*/dir/doc.txt");
        assert!(pattern.matches("/Users/me/dir/dir/dir/doc.txt"));
        assert!(!pattern.matches("/Users/me/dir/dir/dir/doc.txtx"));
    }

    #[test]
    fn invalid_patterns_report_positions() {
        assert_eq!(
            Wildcard::parse("ab**").err().unwrap_or_default(),
            "Consecutive wildcard characters at pos 3"
        );
        assert_eq!(
            Wildcard::parse(r"a\b").err().unwrap_or_default(),
            "Invalid escape character at pos 2"
        );
        assert_eq!(
            Wildcard::parse("a\\").err().unwrap_or_default(),
            "Invalid escape character at pos 2"
        );
    }

    #[test]
    fn empty_pattern_matches_only_empty_value() {
        assert!(wildcard("").matches(""));
        assert!(!wildcard("").matches("a"));
        assert!(wildcard("*").matches(""));
    }
}
