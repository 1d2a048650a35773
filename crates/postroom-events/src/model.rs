//! Event buses, rules and targets as stored.

use crate::error::EventsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const DEFAULT_BUS: &str = "default";
pub const BUS_KIND: &str = "events/bus";
pub const RULE_KIND: &str = "events/rule";
/// Most targets one rule may have.
pub const MAX_TARGETS_PER_RULE: usize = 5;

/// A custom event bus. The default bus of each account and region exists
/// without a record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bus {
    pub account: String,
    pub region: String,
    pub name: String,
    pub description: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub modified_at: u64,
    pub tags: BTreeMap<String, String>,
}

impl Bus {
    pub fn arn(&self) -> String {
        bus_arn(&self.account, &self.region, &self.name)
    }
}

pub fn bus_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:event-bus/{name}")
}

pub fn bus_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// A rule with its targets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    pub account: String,
    pub region: String,
    pub bus: String,
    pub name: String,
    pub event_pattern: Option<String>,
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Targets as given to PutTargets, returned unchanged by
    /// ListTargetsByRule.
    pub targets: Vec<Value>,
    #[serde(default)]
    pub schedule_expression: Option<String>,
    /// Milliseconds since the Unix epoch; rates count from here.
    #[serde(default)]
    pub created_at: u64,
    /// Next firing of a scheduled rule.
    #[serde(default)]
    pub next_fire_at: Option<u64>,
}

impl Rule {
    pub fn arn(&self) -> String {
        rule_arn(&self.account, &self.region, &self.bus, &self.name)
    }

    pub fn is_enabled(&self) -> bool {
        self.state != "DISABLED"
    }
}

/// Rule ARNs name the bus, except on the default bus.
pub fn rule_arn(account: &str, region: &str, bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{region}:{account}:rule/{name}")
    } else {
        format!("arn:aws:events:{region}:{account}:rule/{bus}/{name}")
    }
}

pub fn rule_key(account: &str, region: &str, bus: &str, name: &str) -> String {
    format!("{account}/{region}/{bus}/{name}")
}

pub fn rule_prefix(account: &str, region: &str, bus: &str) -> String {
    format!("{account}/{region}/{bus}/")
}

/// Parses an event bus name or ARN into the bus name.
pub fn bus_name(name_or_arn: Option<&str>) -> Result<String, EventsError> {
    let Some(value) = name_or_arn else { return Ok(DEFAULT_BUS.to_string()) };
    let name = match value.strip_prefix("arn:") {
        Some(_) => value.rsplit_once(":event-bus/").map(|(_, name)| name).ok_or_else(|| {
            EventsError::validation(format!("Parameter EventBusName is not valid: {value} is not an event bus ARN."))
        })?,
        None => value,
    };
    check_name("EventBusName", name, 256, true)?;
    Ok(name.to_string())
}

/// Checks a name against `[.\-_A-Za-z0-9]+` (and `/` for buses) and a length.
pub fn check_name(parameter: &str, name: &str, max: usize, allow_slash: bool) -> Result<(), EventsError> {
    let valid = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (allow_slash && c == '/'));
    if valid {
        Ok(())
    } else {
        Err(EventsError::validation(format!(
            "1 validation error detected: Value '{name}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length at most {max}",
            lower_first(parameter)
        )))
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// A target's parts that delivery reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetSpec {
    pub id: Option<String>,
    pub arn: Option<String>,
    pub input: Option<String>,
    pub input_path: Option<String>,
    pub input_transformer: Option<InputTransformer>,
    pub sqs_parameters: Option<SqsParameters>,
    pub retry_policy: Option<RetryPolicy>,
    pub dead_letter_config: Option<DeadLetterConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default)]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsParameters {
    pub message_group_id: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    pub arn: Option<String>,
}

/// Retries of a delivery when the target has no retry policy: 185 retries
/// within 24 hours.
pub const DEFAULT_MAX_RETRIES: u32 = 185;
pub const DEFAULT_MAX_EVENT_AGE_SECONDS: u64 = 86_400;

impl TargetSpec {
    pub fn max_retries(&self) -> u32 {
        self.retry_policy.and_then(|p| p.maximum_retry_attempts).map_or(DEFAULT_MAX_RETRIES, |n| n as u32)
    }

    pub fn max_event_age_seconds(&self) -> u64 {
        self.retry_policy.and_then(|p| p.maximum_event_age_in_seconds).map_or(DEFAULT_MAX_EVENT_AGE_SECONDS, |n| n as u64)
    }
}
