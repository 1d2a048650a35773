//! PutEvents and TestEventPattern.

use crate::error::{ErrorKind, EventsError};
use crate::model::bus_name;
use crate::service::{text, EventsContext, EventsService};
use postroom_pattern::Pattern;
use serde_json::{json, Value};

/// Largest entry of PutEvents, in bytes, counted as EventBridge counts it.
const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// Formats milliseconds since the Unix epoch as `2026-12-04T21:00:00Z`.
pub fn iso8601(millis: u64) -> String {
    postroom_queue::time::iso8601(millis, false)
}

fn entry_size(entry: &Value) -> usize {
    let field = |name: &str| text(entry, name).map_or(0, str::len);
    let resources: usize =
        entry.get("Resources").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::len).sum();
    14 + field("Source") + field("DetailType") + field("Detail") + resources
}

/// Builds the event of one entry, or the error code and message of the
/// entry.
fn build_event(context: &EventsContext, entry: &Value, now: u64) -> Result<Value, (String, String)> {
    let invalid = |message: &str| ("InvalidArgument".to_string(), message.to_string());
    let source = text(entry, "Source").filter(|s| !s.is_empty()).ok_or_else(|| invalid("Parameter Source is not valid. Reason: Source is a required argument."))?;
    if source.starts_with("aws.") {
        return Err(("NotAuthorizedForSourceException".to_string(), "Not authorized for the source.".to_string()));
    }
    let detail_type = text(entry, "DetailType")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("Parameter DetailType is not valid. Reason: DetailType is a required argument."))?;
    let detail_text = text(entry, "Detail").ok_or_else(|| invalid("Parameter Detail is not valid. Reason: Detail is a required argument."))?;
    let detail: Value = serde_json::from_str(detail_text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| ("MalformedDetail".to_string(), "Detail is malformed.".to_string()))?;
    if entry_size(entry) > MAX_ENTRY_BYTES {
        return Err(invalid("The entry is larger than 256 KB."));
    }
    let time = entry.get("Time").and_then(Value::as_f64).map_or(now, |seconds| (seconds * 1000.0) as u64);
    let resources = entry.get("Resources").cloned().unwrap_or_else(|| json!([]));
    Ok(json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": context.account,
        "time": iso8601(time),
        "region": context.region,
        "resources": resources,
        "detail": detail,
    }))
}

impl EventsService {
    pub(crate) async fn put_events(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let entries = input.get("Entries").and_then(Value::as_array).ok_or_else(|| EventsError::validation("Parameter Entries must be specified."))?;
        if entries.is_empty() || entries.len() > 10 {
            return Err(EventsError::validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1 (given {}).",
                entries.len()
            )));
        }
        let now = self.engine.clock().now();
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        for entry in entries {
            let outcome = match bus_name(text(entry, "EventBusName")) {
                Ok(bus) => match build_event(context, entry, now) {
                    Ok(event) => match self.load_bus(context, &bus).await? {
                        Some(_) => {
                            self.archive_event(context, &bus, &event, crate::archive::event_time(&event, now)).await?;
                            self.route(context, &bus, &event, now).await?;
                            Ok(event["id"].as_str().unwrap_or_default().to_string())
                        }
                        None => Err(("ResourceNotFoundException".to_string(), format!("Event bus {bus} does not exist."))),
                    },
                    Err(error) => Err(error),
                },
                Err(error) => Err(("InvalidArgument".to_string(), error.message)),
            };
            match outcome {
                Ok(id) => results.push(json!({"EventId": id})),
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                }
            }
        }
        Ok(json!({"FailedEntryCount": failed, "Entries": results}))
    }
}

/// Answers TestEventPattern.
pub fn test_event_pattern(input: &Value) -> Result<Value, EventsError> {
    let pattern_text = text(input, "EventPattern").ok_or_else(|| EventsError::validation("Parameter EventPattern must be specified."))?;
    let event_text = text(input, "Event").ok_or_else(|| EventsError::validation("Parameter Event must be specified."))?;
    let pattern = Pattern::event_pattern(pattern_text)
        .map_err(|error| EventsError::new(ErrorKind::InvalidEventPatternException, error.message))?;
    let event: Value = serde_json::from_str(event_text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| EventsError::validation("Parameter Event is not valid."))?;
    for field in ["id", "account", "source", "time", "region", "detail-type"] {
        if event.get(field).is_none() {
            return Err(EventsError::validation(format!("Parameter Event is not valid. Reason: The event lacks the field {field}.")));
        }
    }
    Ok(json!({"Result": pattern.matches_json(&event)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_418_000_999), "2026-12-04T21:00:00Z");
    }

    #[test]
    fn test_event_pattern_answers() {
        let event = r#"{"id":"1","account":"000000000000","source":"orders","time":"2026-12-04T21:00:00Z","region":"us-east-1","detail-type":"OrderPlaced","detail":{}}"#;
        let matches = test_event_pattern(&json!({"EventPattern": r#"{"source":["orders"]}"#, "Event": event})).expect("valid");
        assert_eq!(matches["Result"], true);
        let other = test_event_pattern(&json!({"EventPattern": r#"{"source":["billing"]}"#, "Event": event})).expect("valid");
        assert_eq!(other["Result"], false);
        let invalid = test_event_pattern(&json!({"EventPattern": r#"{"source":"orders"}"#, "Event": event})).expect_err("invalid pattern");
        assert_eq!(invalid.kind, ErrorKind::InvalidEventPatternException);
        let no_id = test_event_pattern(&json!({"EventPattern": r#"{"source":["orders"]}"#, "Event": r#"{"source":"orders"}"#})).expect_err("incomplete event");
        assert_eq!(no_id.kind, ErrorKind::ValidationException);
    }
}
