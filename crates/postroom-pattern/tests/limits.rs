//! Size and complexity limits, built in code because the patterns are long.

use std::collections::BTreeMap;

use postroom_pattern::{FilterPolicyScope, MessageAttribute, Pattern};
use serde_json::{json, Value};

const TOO_COMPLEX: &str = "Filter policy is too complex";

/// Builds a JSON array of `count` distinct strings.
fn values(count: usize) -> Value {
    Value::Array(
        (0..count)
            .map(|index| Value::String(format!("v{index}")))
            .collect(),
    )
}

fn policy_error(policy: &Value, scope: FilterPolicyScope) -> Option<String> {
    Pattern::filter_policy(&policy.to_string(), scope)
        .err()
        .map(|error| error.message)
}

#[test]
fn combinations_count_values_of_one_key() {
    let scope = FilterPolicyScope::MessageAttributes;
    assert_eq!(policy_error(&json!({"a": values(150)}), scope), None);
    assert_eq!(
        policy_error(&json!({"a": values(151)}), scope).as_deref(),
        Some(TOO_COMPLEX)
    );
}

#[test]
fn combinations_multiply_across_keys() {
    let scope = FilterPolicyScope::MessageAttributes;
    assert_eq!(
        policy_error(&json!({"a": values(12), "b": values(12)}), scope),
        None
    );
    assert_eq!(
        policy_error(&json!({"a": values(13), "b": values(12)}), scope).as_deref(),
        Some(TOO_COMPLEX)
    );
}

#[test]
fn combinations_add_across_or_branches() {
    let scope = FilterPolicyScope::MessageAttributes;
    let within = json!({"$or": [{"a": values(75)}, {"b": values(75)}]});
    let beyond = json!({"$or": [{"a": values(76)}, {"b": values(75)}]});
    assert_eq!(policy_error(&within, scope), None);
    assert_eq!(policy_error(&beyond, scope).as_deref(), Some(TOO_COMPLEX));
}

#[test]
fn body_combinations_weigh_nesting_depth() {
    let scope = FilterPolicyScope::MessageBody;
    assert_eq!(
        policy_error(&json!({"a": {"b": {"c": values(50)}}}), scope),
        None
    );
    assert_eq!(
        policy_error(&json!({"a": {"b": {"c": values(51)}}}), scope).as_deref(),
        Some(TOO_COMPLEX)
    );
}

#[test]
fn filter_policy_size_is_limited() {
    let within = json!({"a": ["x".repeat(256 * 1024 - 20)]}).to_string();
    let beyond = json!({"a": ["x".repeat(256 * 1024)]}).to_string();
    assert!(within.len() <= 256 * 1024);
    assert!(Pattern::filter_policy(&within, FilterPolicyScope::MessageBody).is_ok());
    let error = Pattern::filter_policy(&beyond, FilterPolicyScope::MessageBody).err();
    assert!(error.is_some_and(|error| error.message.contains("maximum is 262144 bytes")));
}

#[test]
fn event_pattern_length_is_limited() {
    let padding = |length: usize| "x".repeat(length - r#"{"a":[""]}"#.len());
    let within = format!(r#"{{"a":["{}"]}}"#, padding(4096));
    let beyond = format!(r#"{{"a":["{}"]}}"#, padding(4097));
    assert_eq!(within.chars().count(), 4096);
    assert!(Pattern::event_pattern(&within).is_ok());
    let error = Pattern::event_pattern(&beyond)
        .err()
        .map(|error| error.message)
        .unwrap_or_default();
    assert!(
        error.starts_with("Event pattern is not valid. Reason: "),
        "{error}"
    );
    assert!(error.contains("maximum is 4096"), "{error}");
}

#[test]
fn empty_policy_matches_everything() {
    for scope in [
        FilterPolicyScope::MessageAttributes,
        FilterPolicyScope::MessageBody,
    ] {
        let pattern = Pattern::filter_policy("{}", scope).expect("the empty policy is valid");
        assert!(pattern.matches_json(&json!({"any": "thing"})));
        assert!(pattern.matches_attributes(&BTreeMap::new()));
    }
}

#[test]
fn nested_object_in_attribute_scope_names_the_scope() {
    let error = policy_error(
        &json!({"a": {"b": ["c"]}}),
        FilterPolicyScope::MessageAttributes,
    );
    let expected = "Filter policy scope MessageAttributes does not support nested filter policy";
    assert_eq!(error.as_deref(), Some(expected));
    assert_eq!(
        policy_error(&json!({"a": {"b": ["c"]}}), FilterPolicyScope::MessageBody),
        None
    );
}

#[test]
fn later_duplicate_key_replaces_earlier() {
    let pattern = Pattern::event_pattern(r#"{"a": ["x"], "a": ["y"]}"#).expect("valid pattern");
    assert!(pattern.matches_json(&json!({"a": "y"})));
    assert!(!pattern.matches_json(&json!({"a": "x"})));
}

#[test]
fn errors_display_their_message() {
    let error = Pattern::event_pattern("[]").expect_err("an array is rejected");
    assert_eq!(
        error.to_string(),
        "Event pattern is not valid. Reason: Filter is not an object"
    );
}

#[test]
fn binary_attributes_are_absent() {
    let pattern = Pattern::filter_policy(
        r#"{"data": [{"exists": false}]}"#,
        FilterPolicyScope::MessageAttributes,
    )
    .expect("valid policy");
    let binary = MessageAttribute {
        data_type: "Binary".to_string(),
        value: "AAEC".to_string(),
    };
    let attributes = BTreeMap::from([("data".to_string(), binary)]);
    assert!(pattern.matches_attributes(&attributes));
}

/// Builds `{"s": [ {"x": 1, "s": [...]}, ... ]}` with `width` elements per
/// level and `depth` levels, where no element at the last level holds `y`.
fn nested_arrays(width: usize, depth: usize) -> Value {
    if depth == 0 {
        return json!({"x": 1});
    }
    let children: Vec<Value> = (0..width)
        .map(|_| nested_arrays(width, depth - 1))
        .collect();
    json!({"x": 1, "s": children})
}

#[test]
fn deep_array_search_finishes_quickly() {
    // A pattern whose fields pass through nested arrays and whose last
    // field has no candidate in any element: the search must fail fast.
    let pattern = Pattern::event_pattern(
        r#"{"s": {"x": [1], "s": {"x": [1], "s": {"x": [1], "y": [{"exists": true}]}}}}"#,
    )
    .expect("valid pattern");
    let event = nested_arrays(6, 5);
    let started = std::time::Instant::now();
    assert!(!pattern.matches_json(&event));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
