//! The body a target receives: the whole event, a constant `Input`, the
//! part at an `InputPath`, or an `InputTransformer` template filled from the
//! event.
//!
//! Template rules, as EventBridge applies them: a placeholder `<name>`
//! inside a JSON string is replaced by the value's text, with string
//! contents escaped for JSON and other values written as JSON. Outside a
//! string it is replaced by the value as JSON, so a string arrives with its
//! quotes. A path that
//! matches nothing gives `null` outside strings and nothing inside them.

use crate::model::TargetSpec;
use serde_json::Value;

/// Context values of the `<aws.events.*>` placeholders.
pub struct DeliveryContext<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    pub ingestion_time: &'a str,
}

/// Checks a JSONPath of the form EventBridge accepts: `$`, then `.name`,
/// `['name']` or `[index]` steps.
pub fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            steps.push(Step::Index(after[..end].trim().parse().ok()?));
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

fn select<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |current, step| match step {
        Step::Key(key) => current.get(key),
        Step::Index(index) => current.get(index),
    })
}

/// Returns the body delivered to a target for an event.
pub fn render(target: &TargetSpec, event: &Value, context: &DeliveryContext<'_>) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        let value = parse_path(path).and_then(|steps| select(event, &steps).cloned()).unwrap_or(Value::Null);
        return value.to_string();
    }
    if let Some(transformer) = &target.input_transformer {
        let template = transformer.input_template.as_deref().unwrap_or_default();
        let lookup = |name: &str| -> Option<Value> {
            match name {
                "aws.events.rule-arn" => Some(Value::String(context.rule_arn.to_string())),
                "aws.events.rule-name" => Some(Value::String(context.rule_name.to_string())),
                "aws.events.event.ingestion-time" => Some(Value::String(context.ingestion_time.to_string())),
                "aws.events.event" | "aws.events.event.json" => Some(event.clone()),
                _ => {
                    let path = transformer.input_paths_map.get(name)?;
                    parse_path(path).and_then(|steps| select(event, &steps).cloned())
                }
            }
        };
        let known = |name: &str| name.starts_with("aws.events.") || transformer.input_paths_map.contains_key(name);
        return fill_template(template, &known, &lookup);
    }
    event.to_string()
}

/// Replaces the placeholders of a template. Text in angle brackets that is
/// not a known placeholder stays as written.
pub fn fill_template(template: &str, known: &dyn Fn(&str) -> bool, lookup: &dyn Fn(&str) -> Option<Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                let is_placeholder = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
                if is_placeholder && known(name) {
                    let value = lookup(name).unwrap_or(Value::Null);
                    out.push_str(&insert(&value, in_string));
                    rest = &rest[end + 1..];
                    escaped = false;
                    continue;
                }
            }
        }
        if in_string && escaped {
            escaped = false;
        } else if in_string && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn insert(value: &Value, in_string: bool) -> String {
    match (value, in_string) {
        (Value::Null, true) => String::new(),
        (Value::String(text), true) => {
            let quoted = Value::String(text.clone()).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (other, true) => {
            let json = other.to_string();
            let quoted = Value::String(json).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (other, false) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InputTransformer;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "id": "e1",
            "source": "orders",
            "detail-type": "OrderPlaced",
            "detail": {"order": {"id": "ord_1", "total": 12.5, "items": ["a", "b"]}, "note": "say \"hi\""}
        })
    }

    fn context() -> DeliveryContext<'static> {
        DeliveryContext { rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r", rule_name: "r", ingestion_time: "2026-12-04T21:00:00Z" }
    }

    fn transformer(paths: &[(&str, &str)], template: &str) -> TargetSpec {
        TargetSpec {
            input_transformer: Some(InputTransformer {
                input_paths_map: paths.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                input_template: Some(template.to_string()),
            }),
            ..TargetSpec::default()
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("$"), Some(vec![]));
        assert_eq!(parse_path("$.detail.order"), Some(vec![Step::Key("detail".into()), Step::Key("order".into())]));
        assert_eq!(parse_path("$.detail['detail-type'][1]").map(|s| s.len()), Some(3));
        assert_eq!(parse_path("detail"), None);
        assert_eq!(parse_path("$.."), None);
    }

    #[test]
    fn whole_event_constant_and_path() {
        let spec = TargetSpec::default();
        assert_eq!(render(&spec, &event(), &context()), event().to_string());
        let constant = TargetSpec { input: Some("{\"fixed\":true}".into()), ..TargetSpec::default() };
        assert_eq!(render(&constant, &event(), &context()), "{\"fixed\":true}");
        let path = TargetSpec { input_path: Some("$.detail.order.id".into()), ..TargetSpec::default() };
        assert_eq!(render(&path, &event(), &context()), "\"ord_1\"");
        let missing = TargetSpec { input_path: Some("$.detail.nothing".into()), ..TargetSpec::default() };
        assert_eq!(render(&missing, &event(), &context()), "null");
    }

    #[test]
    fn json_template_quoting() {
        let spec = transformer(
            &[("id", "$.detail.order.id"), ("total", "$.detail.order.total"), ("items", "$.detail.order.items"), ("note", "$.detail.note")],
            r#"{"order": <id>, "label": "order <id> of <total>", "items": <items>, "note": "<note>", "rule": "<aws.events.rule-name>"}"#,
        );
        let output = render(&spec, &event(), &context());
        let parsed: Value = serde_json::from_str(&output).expect("valid JSON");
        assert_eq!(parsed["order"], "ord_1");
        assert_eq!(parsed["label"], "order ord_1 of 12.5");
        assert_eq!(parsed["items"], json!(["a", "b"]));
        assert_eq!(parsed["note"], "say \"hi\"");
        assert_eq!(parsed["rule"], "r");
    }

    #[test]
    fn string_template_and_missing_values() {
        let spec = transformer(&[("id", "$.detail.order.id"), ("gone", "$.detail.gone")], r#""Order <id> placed<gone> <b>""#);
        assert_eq!(render(&spec, &event(), &context()), "\"Order ord_1 placed <b>\"", "unknown names stay as written");
        let outside = transformer(&[("gone", "$.detail.gone")], r#"{"value": <gone>}"#);
        assert_eq!(render(&outside, &event(), &context()), r#"{"value": null}"#);
        let whole = transformer(&[], r#"{"event": <aws.events.event>}"#);
        let parsed: Value = serde_json::from_str(&render(&whole, &event(), &context())).expect("valid JSON");
        assert_eq!(parsed["event"], event());
    }
}
