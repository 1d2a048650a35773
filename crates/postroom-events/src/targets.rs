//! Checks on targets given to PutTargets.

use crate::error::EventsError;
use crate::model::{check_name, TargetSpec};
use crate::transform::parse_path;
use serde_json::Value;

/// Largest `Input` or `InputTemplate`, in characters.
const MAX_INPUT: usize = 8192;
/// Most entries of an `InputPathsMap`.
const MAX_INPUT_PATHS: usize = 100;

/// Checks one target as EventBridge checks it.
pub fn validate(target: &Value) -> Result<(), EventsError> {
    let spec: TargetSpec = serde_json::from_value(target.clone())
        .map_err(|error| EventsError::validation(format!("A target is not valid: {error}")))?;
    let id = spec.id.as_deref().ok_or_else(|| EventsError::validation("Parameter Id of a target must be specified."))?;
    check_name("Id", id, 64, false)?;
    let arn = spec.arn.as_deref().ok_or_else(|| EventsError::validation(format!("Parameter Arn of target {id} must be specified.")))?;
    if !arn.starts_with("arn:") {
        return Err(EventsError::validation(format!("Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")));
    }

    let inputs = [spec.input.is_some(), spec.input_path.is_some(), spec.input_transformer.is_some()];
    if inputs.iter().filter(|given| **given).count() > 1 {
        return Err(EventsError::validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        )));
    }
    if let Some(input) = &spec.input {
        if input.chars().count() > MAX_INPUT || serde_json::from_str::<Value>(input).is_err() {
            return Err(EventsError::validation(format!("Input for target {id} must be valid JSON text of at most 8192 characters.")));
        }
    }
    if let Some(path) = &spec.input_path {
        if path.len() > 256 || parse_path(path).is_none() {
            return Err(EventsError::validation(format!("InputPath for target {id} is not a valid JSON path.")));
        }
    }
    if let Some(transformer) = &spec.input_transformer {
        let template = transformer
            .input_template
            .as_deref()
            .ok_or_else(|| EventsError::validation(format!("InputTemplate for target {id} must be specified.")))?;
        if template.is_empty() || template.chars().count() > MAX_INPUT {
            return Err(EventsError::validation(format!("InputTemplate for target {id} must be 1 to 8192 characters long.")));
        }
        if transformer.input_paths_map.len() > MAX_INPUT_PATHS {
            return Err(EventsError::validation(format!("InputPathsMap for target {id} can have at most 100 entries.")));
        }
        check_template(id, template, &transformer.input_paths_map)?;
        for (name, path) in &transformer.input_paths_map {
            if name.starts_with("aws.events.") {
                return Err(EventsError::validation(format!("InputPathsMap key {name} is reserved.")));
            }
            if parse_path(path).is_none() {
                return Err(EventsError::validation(format!("InputPathsMap value {path} for target {id} is not a valid JSON path.")));
            }
        }
    }
    if let Some(policy) = spec.retry_policy {
        if policy.maximum_retry_attempts.is_some_and(|n| !(0..=185).contains(&n)) {
            return Err(EventsError::validation("MaximumRetryAttempts must be between 0 and 185."));
        }
        if policy.maximum_event_age_in_seconds.is_some_and(|n| !(60..=86_400).contains(&n)) {
            return Err(EventsError::validation("MaximumEventAgeInSeconds must be between 60 and 86400."));
        }
    }
    if let Some(config) = &spec.dead_letter_config {
        let valid = config.arn.as_deref().and_then(postroom_queue::arn::parse_queue_arn).is_some();
        if !valid {
            return Err(EventsError::validation(format!("The dead-letter queue of target {id} must be an SQS queue ARN.")));
        }
    }
    if arn.ends_with(".fifo") && arn.starts_with("arn:aws:sqs:") {
        let group = spec.sqs_parameters.as_ref().and_then(|p| p.message_group_id.as_deref());
        if group.is_none_or(str::is_empty) {
            return Err(EventsError::validation(format!("Parameter(s) SqsParameters must be specified for target: {id}.")));
        }
    }
    Ok(())
}

/// Checks that every placeholder of a template is defined, and that a JSON
/// template is valid JSON once its placeholders are filled.
fn check_template(id: &str, template: &str, paths: &std::collections::BTreeMap<String, String>) -> Result<(), EventsError> {
    let undefined = std::cell::RefCell::new(None);
    let known = |name: &str| {
        let defined = name.starts_with("aws.events.") || paths.contains_key(name);
        if !defined && undefined.borrow().is_none() {
            *undefined.borrow_mut() = Some(name.to_string());
        }
        true
    };
    let filled = crate::transform::fill_template(template, &known, &|_| Some(Value::String("x".into())));
    if let Some(name) = undefined.into_inner() {
        return Err(EventsError::validation(format!(
            "InputTemplate for target {id} contains the placeholder <{name}>, which is not in InputPathsMap."
        )));
    }
    let trimmed = template.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('[')) && serde_json::from_str::<Value>(&filled).is_err() {
        return Err(EventsError::validation(format!("InputTemplate for target {id} must be valid JSON.")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn target_rules() {
        let sqs = "arn:aws:sqs:us-east-1:000000000000:q";
        assert!(validate(&json!({"Id": "t1", "Arn": sqs})).is_ok());
        assert!(validate(&json!({"Id": "t1", "Arn": sqs, "Input": "{\"a\":1}"})).is_ok());
        let bad = [
            json!({"Arn": sqs}),
            json!({"Id": "bad id", "Arn": sqs}),
            json!({"Id": "t1"}),
            json!({"Id": "t1", "Arn": sqs, "Input": "{}", "InputPath": "$.detail"}),
            json!({"Id": "t1", "Arn": sqs, "Input": "not json"}),
            json!({"Id": "t1", "Arn": sqs, "InputPath": "detail"}),
            json!({"Id": "t1", "Arn": sqs, "InputTransformer": {"InputPathsMap": {"a": "$.x"}}}),
            json!({"Id": "t1", "Arn": sqs, "RetryPolicy": {"MaximumRetryAttempts": 186}}),
            json!({"Id": "t1", "Arn": sqs, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}}),
            json!({"Id": "t1", "Arn": sqs, "DeadLetterConfig": {"Arn": "arn:aws:sns:us-east-1:000000000000:t"}}),
            json!({"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:000000000000:q.fifo"}),
            json!({"Id": "t1", "Arn": sqs, "InputTransformer": {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": "{\"a\": <m>}"}}),
            json!({"Id": "t1", "Arn": sqs, "InputTransformer": {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": "{\"a\": <n>"}}),
        ];
        let good = json!({"Id": "t1", "Arn": sqs, "InputTransformer": {
            "InputPathsMap": {"n": "$.detail.n"},
            "InputTemplate": "{\"a\": <n>, \"b\": \"<n> and <aws.events.rule-name>\"}"
        }});
        assert!(validate(&good).is_ok());
        for target in bad {
            assert!(validate(&target).is_err(), "{target}");
        }
    }
}
