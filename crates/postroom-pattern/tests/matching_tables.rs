//! Table-driven matching tests: each row is an event and whether the
//! group's pattern matches it.
//!
//! The tables live in `tests/data/*_matching.json`. Each group has a name, a
//! pattern and rows of `[expected, event]`; in the attribute table the event
//! is a map from attribute name to `[data type, value]`.

use std::collections::BTreeMap;

use postroom_pattern::{FilterPolicyScope, MessageAttribute, Pattern};
use serde_json::Value;

/// How a table's patterns compile and its events are matched.
#[derive(Clone, Copy)]
enum Dialect {
    EventBridge,
    SnsBody,
    SnsAttributes,
}

fn compile(dialect: Dialect, text: &str) -> Result<Pattern, String> {
    let compiled = match dialect {
        Dialect::EventBridge => Pattern::event_pattern(text),
        Dialect::SnsBody => Pattern::filter_policy(text, FilterPolicyScope::MessageBody),
        Dialect::SnsAttributes => {
            Pattern::filter_policy(text, FilterPolicyScope::MessageAttributes)
        }
    };
    compiled.map_err(|error| error.message)
}

fn attributes(event: &Value) -> Result<BTreeMap<String, MessageAttribute>, String> {
    let members = event.as_object().ok_or("attribute rows are objects")?;
    let mut attributes = BTreeMap::new();
    for (name, pair) in members {
        let (Some(data_type), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
            return Err(format!("attribute {name} is not [data type, value]"));
        };
        attributes.insert(
            name.clone(),
            MessageAttribute {
                data_type: data_type.to_string(),
                value: value.to_string(),
            },
        );
    }
    Ok(attributes)
}

/// Runs every row of a table and returns the number of rows and a line for
/// each row whose outcome differs from the table.
fn run_table(table: &str, dialect: Dialect) -> (usize, Vec<String>) {
    let groups: Vec<Value> = serde_json::from_str(table).expect("table is JSON");
    let mut rows = 0;
    let mut failures = Vec::new();
    for group in &groups {
        let name = group["name"].as_str().unwrap_or("unnamed");
        let pattern_text = group["pattern"].to_string();
        let pattern = match compile(dialect, &pattern_text) {
            Ok(pattern) => pattern,
            Err(message) => {
                failures.push(format!(
                    "{name}: pattern {pattern_text} rejected: {message}"
                ));
                continue;
            }
        };
        for row in group["rows"].as_array().expect("rows are an array") {
            rows += 1;
            let expected = row[0]
                .as_bool()
                .expect("row starts with the expected outcome");
            let event = &row[1];
            let actual = match dialect {
                Dialect::SnsAttributes => match attributes(event) {
                    Ok(attributes) => pattern.matches_attributes(&attributes),
                    Err(problem) => {
                        failures.push(format!("{name}: bad row {event}: {problem}"));
                        continue;
                    }
                },
                Dialect::EventBridge | Dialect::SnsBody => pattern.matches_json(event),
            };
            if actual != expected {
                failures.push(format!(
                    "{name}: {pattern_text} on {event}: expected {expected}, got {actual}"
                ));
            }
        }
    }
    (rows, failures)
}

fn assert_table(table: &str, dialect: Dialect, minimum_rows: usize) {
    let (rows, failures) = run_table(table, dialect);
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        rows >= minimum_rows,
        "table has {rows} rows, expected at least {minimum_rows}"
    );
}

#[test]
fn eventbridge_matching_table() {
    assert_table(
        include_str!("data/eventbridge_matching.json"),
        Dialect::EventBridge,
        250,
    );
}

#[test]
fn sns_body_matching_table() {
    assert_table(
        include_str!("data/sns_body_matching.json"),
        Dialect::SnsBody,
        70,
    );
}

#[test]
fn sns_attribute_matching_table() {
    assert_table(
        include_str!("data/sns_attribute_matching.json"),
        Dialect::SnsAttributes,
        60,
    );
}
