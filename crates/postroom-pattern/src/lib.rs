//! The pattern engine of Postroom: SNS subscription filter policies and
//! EventBridge event patterns.
//!
//! Both services describe which messages to deliver with the same JSON
//! language. A pattern is an object whose keys name fields of the event and
//! whose arrays list the values or match expressions (`prefix`, `numeric`,
//! `anything-but`, `exists`, `cidr`, ...) that a field may match. Fields
//! combine with AND, values with OR, and `$or` combines whole objects with
//! OR. The dialects differ in their operators, number ranges, limits and
//! error texts, so a [`Pattern`] is compiled for one of them:
//!
//! - [`Pattern::event_pattern`] follows EventBridge and returns
//!   InvalidEventPatternException reasons.
//! - [`Pattern::filter_policy`] follows SNS for one [`FilterPolicyScope`] and
//!   returns the text that follows `Invalid parameter: FilterPolicy: `.
//!
//! A compiled pattern matches JSON events ([`Pattern::matches_json`]) and SNS
//! message attributes ([`Pattern::matches_attributes`]). Matching returns a
//! plain yes or no that depends only on the pattern and the input. The
//! property tests check that it neither panics nor varies on generated
//! patterns and events.
//!
//! ```
//! use postroom_pattern::Pattern;
//! use serde_json::json;
//!
//! let pattern = Pattern::event_pattern(r#"{"detail": {"state": [{"anything-but": "pending"}]}}"#)?;
//! assert!(pattern.matches_json(&json!({"detail": {"state": "running"}})));
//! assert!(!pattern.matches_json(&json!({"detail": {"state": "pending"}})));
//! # Ok::<(), postroom_pattern::PatternError>(())
//! ```

mod cidr;
mod compile;
mod eval;
mod event;
mod json;
mod limits;
mod matcher;
mod numeric;
mod operators;
mod wildcard;

use std::collections::BTreeMap;

use compile::{compile, Compiled, Dialect};
use event::FlatEvent;
use json::{parse_document, Document};

/// A compiled event pattern or filter policy.
#[derive(Clone, Debug)]
pub struct Pattern {
    dialect: Dialect,
    /// `None` for the empty SNS policy `{}`, which matches every message.
    body: Option<Compiled>,
}

/// The part of an SNS message that a filter policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterPolicyScope {
    /// The message attributes; the policy must be flat.
    MessageAttributes,
    /// The message body, read as a JSON object; the policy may nest.
    MessageBody,
}

/// An SNS message attribute as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `String.Array`, `Number` or `Binary`, optionally followed
    /// by a custom suffix such as `Number.float`.
    pub data_type: String,
    /// The value as sent; a `String.Array` value is the text of a JSON array.
    pub value: String,
}

/// A pattern that the service rejects, with the reason AWS gives.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatternError {
    /// The message for the client, in AWS's words.
    pub message: String,
}

impl PatternError {
    fn new(message: impl Into<String>) -> PatternError {
        PatternError {
            message: message.into(),
        }
    }
}

/// Prefix of every InvalidEventPatternException message.
const EVENT_PATTERN_ERROR_PREFIX: &str = "Event pattern is not valid. Reason: ";

impl Pattern {
    /// Validates and compiles an EventBridge event pattern.
    ///
    /// Errors carry the whole InvalidEventPatternException message, starting
    /// with "Event pattern is not valid. Reason: ". AWS appends the location
    /// of the problem in the JSON text to some messages; these do not.
    pub fn event_pattern(text: &str) -> Result<Pattern, PatternError> {
        let invalid =
            |reason: &str| PatternError::new(format!("{EVENT_PATTERN_ERROR_PREFIX}{reason}"));

        // NOTE: AWS rejects a longer pattern in request validation, with a
        // ValidationException rather than this exception; the service layer
        // should check the length first.
        let length = text.chars().count();
        if length > limits::EVENT_PATTERN_MAX_CHARS {
            return Err(invalid(&format!(
                "Event pattern is {length} characters long; the maximum is {}",
                limits::EVENT_PATTERN_MAX_CHARS
            )));
        }

        let members = match parse_document(text).map_err(|reason| invalid(&reason))? {
            Document::Object(members) => members,
            Document::NotObject => return Err(invalid("Filter is not an object")),
        };
        let dialect = Dialect::EventBridge;
        let compiled = compile(&members, dialect).map_err(|reason| invalid(&reason))?;
        limits::check_wildcards(&compiled).map_err(|reason| invalid(&reason))?;
        Ok(Pattern {
            dialect,
            body: Some(compiled),
        })
    }

    /// Validates and compiles an SNS subscription filter policy for a scope.
    ///
    /// Errors carry the text that AWS puts after "Invalid parameter:
    /// FilterPolicy: ". One AWS error has no such prefix: for a nested policy
    /// in the attribute scope AWS returns "Invalid parameter: Filter policy
    /// scope MessageAttributes does not support nested filter policy", and
    /// this returns the part after "Invalid parameter: ".
    ///
    /// The limits are SNS's: at most 5 keys, at most 150 value combinations
    /// and at most 256 KB of text. The empty policy `{}` matches everything.
    pub fn filter_policy(text: &str, scope: FilterPolicyScope) -> Result<Pattern, PatternError> {
        // NOTE: SNS's own wording for an oversized policy is unverified.
        if text.len() > limits::FILTER_POLICY_MAX_BYTES {
            return Err(PatternError::new(format!(
                "Filter policy is {} bytes long; the maximum is {} bytes",
                text.len(),
                limits::FILTER_POLICY_MAX_BYTES
            )));
        }

        let dialect = Dialect::Sns(scope);
        let members = match parse_document(text).map_err(PatternError::new)? {
            Document::Object(members) => members,
            Document::NotObject => return Err(PatternError::new("Filter is not an object")),
        };
        // NOTE: reading `{}` as "no filter" is unverified against SNS; AWS's
        // event-ruler rejects empty objects.
        if members.is_empty() {
            return Ok(Pattern {
                dialect,
                body: None,
            });
        }
        let compiled = compile(&members, dialect).map_err(PatternError::new)?;
        limits::check_filter_policy(&compiled, scope).map_err(PatternError::new)?;
        Ok(Pattern {
            dialect,
            body: Some(compiled),
        })
    }

    /// Matches a JSON event (EventBridge) or message body (SNS body scope).
    ///
    /// A value that is not a JSON object matches nothing.
    pub fn matches_json(&self, event: &serde_json::Value) -> bool {
        let Some(flat) = FlatEvent::from_json(event, &self.dialect.numbers()) else {
            return false;
        };
        self.matches_flat(&flat)
    }

    /// Matches SNS message attributes (attribute scope).
    ///
    /// `String` values match as strings, each element of a `String.Array` as
    /// a value of its own (any element may match), and `Number` values as
    /// numbers. `Binary` attributes count as absent.
    ///
    /// NOTE: the SNS guide describes `anything-but` on a `String.Array` both
    /// ways. This follows its example, where one element outside the list is
    /// enough to match.
    pub fn matches_attributes(&self, attributes: &BTreeMap<String, MessageAttribute>) -> bool {
        let flat = FlatEvent::from_attributes(attributes, &self.dialect.numbers());
        self.matches_flat(&flat)
    }

    fn matches_flat(&self, flat: &FlatEvent<'_>) -> bool {
        match &self.body {
            None => true,
            Some(compiled) => eval::evaluate(&compiled.root, &compiled.fields, flat),
        }
    }
}
