//! The EventBridge requests and responses that the scenarios use, in the
//! AWS JSON 1.1 shapes.

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventBusName<'a> {
    pub name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRule<'a> {
    pub name: &'a str,
    pub event_bus_name: &'a str,
    pub event_pattern: &'a str,
    pub state: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTargets<'a> {
    pub rule: &'a str,
    pub event_bus_name: &'a str,
    pub targets: Vec<Target<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target<'a> {
    pub id: &'a str,
    pub arn: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTargets<'a> {
    pub rule: &'a str,
    pub event_bus_name: &'a str,
    pub ids: &'a [&'a str],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRule<'a> {
    pub name: &'a str,
    pub event_bus_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEvents<'a> {
    pub entries: Vec<EventEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventEntry<'a> {
    pub source: &'a str,
    pub detail_type: &'a str,
    /// A JSON object, as a string.
    pub detail: String,
    pub event_bus_name: &'a str,
}

/// Output of PutEvents and PutTargets: entries that failed.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedEntries {
    #[serde(default)]
    pub failed_entry_count: u64,
    /// PutEvents: one result per entry, with an error code where it failed.
    #[serde(default)]
    pub entries: Vec<EntryResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntryResult {
    pub error_code: Option<String>,
}

/// Builds the `Detail` of a bench event: an object whose field `b` contains a
/// message body from [`crate::sqs::message_body`].
pub fn detail(body: &str) -> String {
    serde_json::json!({ "b": body }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_events_shape() {
        let request = PutEvents {
            entries: vec![EventEntry {
                source: "postroom.bench",
                detail_type: "bench",
                detail: detail("0:1:x"),
                event_bus_name: "bus",
            }],
        };
        assert_eq!(
            serde_json::to_string(&request).expect("serializable"),
            r#"{"Entries":[{"Source":"postroom.bench","DetailType":"bench","Detail":"{\"b\":\"0:1:x\"}","EventBusName":"bus"}]}"#
        );
    }

    #[test]
    fn failed_entries_read_codes() {
        let output: FailedEntries = serde_json::from_str(
            r#"{"FailedEntryCount":1,"Entries":[{"EventId":"a"},{"ErrorCode":"InternalFailure","ErrorMessage":"x"}]}"#,
        )
        .expect("valid output");
        assert_eq!(output.failed_entry_count, 1);
        let codes: Vec<_> = output.entries.iter().map(|entry| entry.error_code.as_deref()).collect();
        assert_eq!(codes, [None, Some("InternalFailure")]);
    }
}
