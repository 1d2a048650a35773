//! Conditions on one value, and how a value from an event meets them.
//!
//! AWS compares a value by its JSON form, so type matters: the string `"5"`
//! never equals the number `5`, string operators (prefix, suffix, wildcard,
//! equals-ignore-case, cidr) never match numbers, booleans or null, and
//! `numeric` never matches strings. `anything-but` with strings matches every
//! value that is not one of the strings, null, numbers and booleans included.

use std::borrow::Cow;

use crate::cidr::{parse_ip, CidrBlock, IpAddress};
use crate::numeric::{Number, Range};
use crate::wildcard::Wildcard;

/// A scalar value from an event or a message attribute.
#[derive(Clone, Debug)]
pub(crate) enum Leaf<'a> {
    String(Cow<'a, str>),
    Number(Number),
    Bool(bool),
    Null,
}

/// One condition of a field; a field matches when any of its conditions does.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    /// An exact string. When the string is an IP address, `ip` contains the
    /// address and other spellings of it match too, as in AWS.
    ExactString {
        text: String,
        ip: Option<IpAddress>,
    },
    ExactNumber(Number),
    ExactBool(bool),
    ExactNull,
    Prefix(String),
    /// A prefix compared without case; the text is stored in lowercase.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// A suffix compared without case; the text is stored in lowercase.
    SuffixIgnoreCase(String),
    /// A whole string compared without case; the text is stored in lowercase.
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    Numeric(Range),
    Cidr(CidrBlock),
    /// `{"exists": true}`: any value, null included.
    Exists,
    AnythingBut(AnythingBut),
}

/// The forms of `anything-but`; each matches a value that none of its
/// entries match.
#[derive(Clone, Debug)]
pub(crate) enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<Number>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Whole strings compared without case, stored in lowercase.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

impl Matcher {
    /// Tells whether one value meets this condition.
    pub(crate) fn matches(&self, leaf: &Leaf<'_>) -> bool {
        match self {
            Matcher::ExactString { text, ip } => match leaf {
                Leaf::String(value) => {
                    value.as_ref() == text
                        || ip.is_some_and(|address| parse_ip(value) == Some(address))
                }
                _ => false,
            },
            Matcher::ExactNumber(expected) => {
                matches!(leaf, Leaf::Number(value) if value.equals(expected))
            }
            Matcher::ExactBool(expected) => matches!(leaf, Leaf::Bool(value) if value == expected),
            Matcher::ExactNull => matches!(leaf, Leaf::Null),
            Matcher::Prefix(prefix) => {
                string_of(leaf).is_some_and(|value| value.starts_with(prefix.as_str()))
            }
            Matcher::PrefixIgnoreCase(prefix) => string_of(leaf)
                .is_some_and(|value| value.to_lowercase().starts_with(prefix.as_str())),
            Matcher::Suffix(suffix) => {
                string_of(leaf).is_some_and(|value| value.ends_with(suffix.as_str()))
            }
            Matcher::SuffixIgnoreCase(suffix) => {
                string_of(leaf).is_some_and(|value| value.to_lowercase().ends_with(suffix.as_str()))
            }
            Matcher::EqualsIgnoreCase(expected) => {
                string_of(leaf).is_some_and(|value| value.to_lowercase() == *expected)
            }
            Matcher::Wildcard(pattern) => {
                string_of(leaf).is_some_and(|value| pattern.matches(value))
            }
            Matcher::Numeric(range) => match leaf {
                Leaf::Number(value) => value
                    .comparable()
                    .is_some_and(|units| range.contains(units)),
                _ => false,
            },
            Matcher::Cidr(block) => string_of(leaf)
                .and_then(parse_ip)
                .is_some_and(|address| block.contains(address)),
            Matcher::Exists => true,
            Matcher::AnythingBut(excluded) => !excluded.excludes(leaf),
        }
    }
}

impl AnythingBut {
    /// Tells whether the value is one that `anything-but` rules out.
    fn excludes(&self, leaf: &Leaf<'_>) -> bool {
        if let (AnythingBut::Numbers(numbers), Leaf::Number(value)) = (self, leaf) {
            return numbers.iter().any(|number| number.equals(value));
        }
        let Some(value) = string_of(leaf) else {
            return false;
        };
        match self {
            AnythingBut::Strings(strings) => strings.iter().any(|excluded| excluded == value),
            AnythingBut::Numbers(_) => false,
            AnythingBut::Prefixes(prefixes) => prefixes
                .iter()
                .any(|prefix| value.starts_with(prefix.as_str())),
            AnythingBut::Suffixes(suffixes) => suffixes
                .iter()
                .any(|suffix| value.ends_with(suffix.as_str())),
            AnythingBut::IgnoreCase(strings) => {
                let lowered = value.to_lowercase();
                strings.contains(&lowered)
            }
            AnythingBut::Wildcards(patterns) => {
                patterns.iter().any(|pattern| pattern.matches(value))
            }
        }
    }
}

fn string_of<'l>(leaf: &'l Leaf<'_>) -> Option<&'l str> {
    match leaf {
        Leaf::String(value) => Some(value.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::EVENTBRIDGE_NUMBERS;

    fn string(value: &str) -> Leaf<'_> {
        Leaf::String(Cow::Borrowed(value))
    }

    fn number(text: &str) -> Number {
        Number::from_text(text, &EVENTBRIDGE_NUMBERS)
            .unwrap_or_else(|| panic!("{text} is a number"))
    }

    #[test]
    fn exact_match_respects_type() {
        let five = Matcher::ExactNumber(number("5"));
        assert!(five.matches(&Leaf::Number(number("5.0"))));
        assert!(!five.matches(&string("5")));
        let text = Matcher::ExactString {
            text: "5".to_string(),
            ip: None,
        };
        assert!(!text.matches(&Leaf::Number(number("5"))));
    }

    #[test]
    fn exact_ip_matches_other_spellings() {
        let matcher = Matcher::ExactString {
            text: "2001:db8::1".to_string(),
            ip: parse_ip("2001:db8::1"),
        };
        assert!(matcher.matches(&string("2001:0DB8:0:0:0:0:0:1")));
        assert!(!matcher.matches(&string("2001:db8::2")));
    }

    #[test]
    fn anything_but_strings_match_other_types() {
        let matcher = Matcher::AnythingBut(AnythingBut::Strings(vec!["initializing".to_string()]));
        assert!(matcher.matches(&Leaf::Null));
        assert!(matcher.matches(&Leaf::Number(number("12"))));
        assert!(matcher.matches(&string("running")));
        assert!(!matcher.matches(&string("initializing")));
    }

    #[test]
    fn anything_but_numbers_compare_numerically() {
        let matcher = Matcher::AnythingBut(AnythingBut::Numbers(vec![number("100")]));
        assert!(!matcher.matches(&Leaf::Number(number("1e2"))));
        assert!(matcher.matches(&Leaf::Number(number("101"))));
        assert!(matcher.matches(&string("100")));
    }

    #[test]
    fn ignore_case_operators_fold_case() {
        assert!(Matcher::EqualsIgnoreCase("ec2".to_string()).matches(&string("EC2")));
        assert!(Matcher::PrefixIgnoreCase("eventb".to_string()).matches(&string("EventBridge")));
        assert!(Matcher::SuffixIgnoreCase(".png".to_string()).matches(&string("IMAGE.PNG")));
        assert!(!Matcher::Prefix("eventb".to_string()).matches(&string("EventBridge")));
    }
}
