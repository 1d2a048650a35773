//! Table-driven validation tests: patterns that each service rejects, with
//! AWS's reason, and patterns that it accepts.
//!
//! The tables live in `tests/data/*_validation.json`. A pattern written as a
//! JSON string is the raw text, so that key order, invalid JSON and non-object
//! documents can be tested. Any other JSON value is serialized first.

use postroom_pattern::{FilterPolicyScope, Pattern, PatternError};
use serde_json::Value;

const EVENT_PATTERN_PREFIX: &str = "Event pattern is not valid. Reason: ";

fn text_of(pattern: &Value) -> String {
    match pattern {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Checks rejected rows of `[pattern, reason]` and accepted patterns, and
/// returns the number of rows and a line for each mismatch.
fn check_rows(
    rejected: &[Value],
    accepted: &[Value],
    compile: impl Fn(&str) -> Result<Pattern, PatternError>,
    expected_message: impl Fn(&str) -> String,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    for row in rejected {
        let text = text_of(&row[0]);
        let expected = expected_message(row[1].as_str().expect("reason is a string"));
        match compile(&text) {
            Ok(_) => failures.push(format!("{text}: accepted, expected {expected:?}")),
            Err(error) if error.message != expected => failures.push(format!(
                "{text}: got {:?}, expected {expected:?}",
                error.message
            )),
            Err(_) => {}
        }
    }
    for pattern in accepted {
        let text = text_of(pattern);
        if let Err(error) = compile(&text) {
            failures.push(format!("{text}: rejected with {:?}", error.message));
        }
    }
    (rejected.len() + accepted.len(), failures)
}

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{key} is an array"))
}

#[test]
fn eventbridge_validation_table() {
    let table: Value =
        serde_json::from_str(include_str!("data/eventbridge_validation.json")).expect("JSON");
    let (rows, failures) = check_rows(
        array(&table, "rejected"),
        array(&table, "accepted"),
        Pattern::event_pattern,
        |reason| format!("{EVENT_PATTERN_PREFIX}{reason}"),
    );
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(rows >= 130, "table has {rows} rows");
}

#[test]
fn sns_validation_table() {
    let table: Value =
        serde_json::from_str(include_str!("data/sns_validation.json")).expect("JSON");
    let scopes = [
        (FilterPolicyScope::MessageAttributes, "attributes"),
        (FilterPolicyScope::MessageBody, "body"),
    ];
    let mut rows = 0;
    let mut failures = Vec::new();
    for (scope, name) in scopes {
        let rejected: Vec<Value> = [
            array(&table["rejected"], "both"),
            array(&table["rejected"], name),
        ]
        .concat();
        let accepted: Vec<Value> = [
            array(&table["accepted"], "both"),
            array(&table["accepted"], name),
        ]
        .concat();
        let (count, scope_failures) = check_rows(
            &rejected,
            &accepted,
            |text| Pattern::filter_policy(text, scope),
            str::to_string,
        );
        rows += count;
        failures.extend(
            scope_failures
                .into_iter()
                .map(|failure| format!("{name}: {failure}")),
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(rows >= 130, "table has {rows} rows");
}
