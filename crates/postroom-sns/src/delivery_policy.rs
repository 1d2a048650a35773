//! Delivery policies of HTTP and HTTPS subscriptions.
//!
//! A topic's `DeliveryPolicy` contains defaults under `http`; a subscription's
//! contains its own `healthyRetryPolicy`, `throttlePolicy` and `requestPolicy`,
//! which replace the topic's unless the topic sets
//! `disableSubscriptionOverrides`. A retry policy has four phases: retries
//! without delay, retries `minDelayTarget` apart, a backoff from
//! `minDelayTarget` to `maxDelayTarget`, and retries `maxDelayTarget` apart.
//!
//! NOTE: `maxReceivesPerSecond` is checked and reported in
//! `EffectiveDeliveryPolicy`, but deliveries are not throttled to it.

use serde_json::{json, Map, Value};

/// Maximum time that the retries of one policy may take, in seconds.
const MAX_TOTAL_RETRY_SECONDS: u64 = 3600;
const MAX_DELAY_TARGET: u64 = 3600;
const MAX_RETRIES: u64 = 100;
/// Content-Type of posts to HTTP endpoints, unless a policy sets another.
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";
const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/plain; charset=UTF-8",
    "application/json",
    "application/json; charset=UTF-8",
    "application/xml",
    "application/xml; charset=UTF-8",
];
const RETRY_FIELDS: &[&str] = &[
    "minDelayTarget",
    "maxDelayTarget",
    "numRetries",
    "numNoDelayRetries",
    "numMinDelayRetries",
    "numMaxDelayRetries",
    "backoffFunction",
];

/// Growth of the delays of the backoff phase from `minDelayTarget` to
/// `maxDelayTarget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backoff {
    Linear,
    Arithmetic,
    Geometric,
    Exponential,
}

impl Backoff {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "linear" => Some(Backoff::Linear),
            "arithmetic" => Some(Backoff::Arithmetic),
            "geometric" => Some(Backoff::Geometric),
            "exponential" => Some(Backoff::Exponential),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backoff::Linear => "linear",
            Backoff::Arithmetic => "arithmetic",
            Backoff::Geometric => "geometric",
            Backoff::Exponential => "exponential",
        }
    }

    /// Delay at `position` (0 for the first backoff retry, 1 for the last)
    /// between `min` and `max` seconds.
    /// NOTE: AWS documents the endpoints of the backoff phase and shows the
    /// four curves only as a graph, so the shapes between them are this
    /// server's model: a straight line, a square, a constant ratio, and a
    /// steeper exponential.
    fn delay(self, min: u64, max: u64, position: f64) -> u64 {
        let (low, high) = (min as f64, max as f64);
        let value = match self {
            Backoff::Linear => low + (high - low) * position,
            Backoff::Arithmetic => low + (high - low) * position * position,
            Backoff::Geometric => low * (high / low).powf(position),
            Backoff::Exponential => low + (high - low) * (f64::exp(4.0 * position) - 1.0) / (f64::exp(4.0) - 1.0),
        };
        (value.round() as u64).clamp(min, max)
    }
}

/// When a failed delivery to an HTTP endpoint is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub min_delay: u64,
    pub max_delay: u64,
    pub retries: u64,
    pub no_delay_retries: u64,
    pub min_delay_retries: u64,
    pub max_delay_retries: u64,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    /// Three retries, 20 seconds apart.
    fn default() -> Self {
        RetryPolicy {
            min_delay: 20,
            max_delay: 20,
            retries: 3,
            no_delay_retries: 0,
            min_delay_retries: 0,
            max_delay_retries: 0,
            backoff: Backoff::Linear,
        }
    }
}

impl RetryPolicy {
    /// Reads and checks a retry policy object. `path` names it in errors.
    fn parse(value: &Value, path: &str) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("{path} must be a JSON object"))?;
        reject_unknown(object, RETRY_FIELDS, path)?;

        let required = |name: &str| integer_field(object, path, name)?.ok_or_else(|| format!("{path}.{name} must be specified"));
        let optional = |name: &str| integer_field(object, path, name).map(|value| value.unwrap_or(0));
        let backoff = match object.get("backoffFunction") {
            None | Some(Value::Null) => Backoff::Linear,
            Some(Value::String(name)) => Backoff::parse(name).ok_or_else(|| {
                format!("{path}.backoffFunction must be one of linear, arithmetic, geometric, exponential")
            })?,
            Some(other) => {
                return Err(format!("{path}.backoffFunction type mismatch, expecting string, received a {}", json_kind(other)))
            }
        };
        let policy = RetryPolicy {
            min_delay: required("minDelayTarget")?,
            max_delay: required("maxDelayTarget")?,
            retries: required("numRetries")?,
            no_delay_retries: optional("numNoDelayRetries")?,
            min_delay_retries: optional("numMinDelayRetries")?,
            max_delay_retries: optional("numMaxDelayRetries")?,
            backoff,
        };

        policy.check(path)?;
        Ok(policy)
    }

    /// Checks the limits of a policy that [`RetryPolicy::parse`] read.
    fn check(&self, path: &str) -> Result<(), String> {
        if self.min_delay < 1 {
            return Err(format!("{path}.minDelayTarget must be greater than or equal to 1"));
        }
        if self.max_delay > MAX_DELAY_TARGET {
            return Err(format!("{path}.maxDelayTarget must be less than or equal to {MAX_DELAY_TARGET}"));
        }
        if self.max_delay < self.min_delay {
            return Err(format!("{path}.maxDelayTarget must be greater than or equal to minDelayTarget"));
        }
        if self.retries > MAX_RETRIES {
            return Err(format!("{path}.numRetries must be less than or equal to {MAX_RETRIES}"));
        }
        let phases = self.no_delay_retries.saturating_add(self.min_delay_retries).saturating_add(self.max_delay_retries);
        if phases > self.retries {
            return Err(format!(
                "{path}.numRetries must be greater than or equal to total of numMinDelayRetries, numNoDelayRetries and numMaxDelayRetries"
            ));
        }

        let total: u64 = (1..=self.retries).filter_map(|retry| self.delay_before(retry)).sum();
        if total > MAX_TOTAL_RETRY_SECONDS {
            return Err(format!(
                "{path}: the retries take {total} seconds in all, more than the limit of {MAX_TOTAL_RETRY_SECONDS}"
            ));
        }
        Ok(())
    }

    fn backoff_retries(&self) -> u64 {
        self.retries - self.no_delay_retries - self.min_delay_retries - self.max_delay_retries
    }

    /// Seconds to wait before retry number `retry` (1 for the first retry),
    /// or `None` once the policy has no retries left.
    pub fn delay_before(&self, retry: u64) -> Option<u64> {
        if retry == 0 || retry > self.retries {
            return None;
        }
        let backoff = self.backoff_retries();
        let mut index = retry;
        if index <= self.no_delay_retries {
            return Some(0);
        }
        index -= self.no_delay_retries;
        if index <= self.min_delay_retries {
            return Some(self.min_delay);
        }
        index -= self.min_delay_retries;
        if index <= backoff {
            let position = if backoff == 1 { 0.0 } else { (index - 1) as f64 / (backoff - 1) as f64 };
            return Some(self.backoff.delay(self.min_delay, self.max_delay, position));
        }
        Some(self.max_delay)
    }

    fn to_json(self) -> Value {
        json!({
            "minDelayTarget": self.min_delay,
            "maxDelayTarget": self.max_delay,
            "numRetries": self.retries,
            "numMaxDelayRetries": self.max_delay_retries,
            "numNoDelayRetries": self.no_delay_retries,
            "numMinDelayRetries": self.min_delay_retries,
            "backoffFunction": self.backoff.name(),
        })
    }
}

/// The parts of a delivery policy that one level (topic or subscription)
/// sets. Each is `None` where the level leaves it to the one above.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PolicyParts {
    retry: Option<RetryPolicy>,
    max_receives_per_second: Option<u64>,
    content_type: Option<String>,
}

/// The delivery policy that applies to one HTTP subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EffectivePolicy {
    pub retry: RetryPolicy,
    pub max_receives_per_second: Option<u64>,
    pub content_type: String,
}

impl EffectivePolicy {
    /// Combines a topic's and a subscription's `DeliveryPolicy` attributes,
    /// either of which may be missing. Both were checked when they were set.
    pub fn of(topic_policy: Option<&str>, subscription_policy: Option<&str>) -> Self {
        let (topic, overrides_allowed) = stored_topic_parts(topic_policy);
        let subscription = subscription_policy
            .filter(|text| !text.is_empty() && overrides_allowed)
            .and_then(|text| parse_subscription(text).ok())
            .unwrap_or_default();
        EffectivePolicy {
            retry: subscription.retry.or(topic.retry).unwrap_or_default(),
            max_receives_per_second: subscription.max_receives_per_second.or(topic.max_receives_per_second),
            content_type: subscription
                .content_type
                .or(topic.content_type)
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        }
    }

    /// Returns the subscription attribute `EffectiveDeliveryPolicy`.
    pub fn to_json(&self) -> Value {
        json!({
            "healthyRetryPolicy": self.retry.to_json(),
            "sicklyRetryPolicy": null,
            "throttlePolicy": self.max_receives_per_second.map(|rate| json!({"maxReceivesPerSecond": rate})),
            "requestPolicy": {"headerContentType": self.content_type},
            "guaranteed": false,
        })
    }
}

/// Returns the topic attribute `EffectiveDeliveryPolicy`: the topic's
/// policy with the defaults filled in.
pub(crate) fn effective_topic_policy(topic_policy: Option<&str>) -> Value {
    let (parts, overrides_allowed) = stored_topic_parts(topic_policy);
    let mut http = Map::new();
    http.insert("defaultHealthyRetryPolicy".into(), parts.retry.unwrap_or_default().to_json());
    http.insert("disableSubscriptionOverrides".into(), json!(!overrides_allowed));
    if let Some(rate) = parts.max_receives_per_second {
        http.insert("defaultThrottlePolicy".into(), json!({"maxReceivesPerSecond": rate}));
    }
    let content_type = parts.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
    http.insert("defaultRequestPolicy".into(), json!({"headerContentType": content_type}));
    json!({ "http": http })
}

/// Checks a subscription's `DeliveryPolicy`. The error is the reason that
/// follows `DeliveryPolicy: ` in the response.
pub(crate) fn check_subscription_policy(text: &str) -> Result<(), String> {
    parse_subscription(text).map(|_| ())
}

/// Checks a topic's `DeliveryPolicy`, as [`check_subscription_policy`].
pub(crate) fn check_topic_policy(text: &str) -> Result<(), String> {
    parse_topic(text).map(|_| ())
}

/// Reads a topic's stored `DeliveryPolicy`, which was checked when it was
/// set, and whether it lets subscriptions override it.
fn stored_topic_parts(topic_policy: Option<&str>) -> (PolicyParts, bool) {
    topic_policy
        .filter(|text| !text.is_empty())
        .and_then(|text| parse_topic(text).ok())
        .unwrap_or((PolicyParts::default(), true))
}

fn parse_subscription(text: &str) -> Result<PolicyParts, String> {
    let value: Value = serde_json::from_str(text).map_err(|_| "the policy is not valid JSON".to_string())?;
    let object = value.as_object().ok_or("the policy must be a JSON object")?;
    reject_unknown(object, &["healthyRetryPolicy", "sicklyRetryPolicy", "throttlePolicy", "requestPolicy", "guaranteed"], "")?;
    parse_parts(object, "healthyRetryPolicy", "throttlePolicy", "requestPolicy")
}

/// Reads a topic's policy and whether it lets subscriptions override it.
fn parse_topic(text: &str) -> Result<(PolicyParts, bool), String> {
    let value: Value = serde_json::from_str(text).map_err(|_| "the policy is not valid JSON".to_string())?;
    let object = value.as_object().ok_or("the policy must be a JSON object")?;
    let Some(http) = object.get("http").filter(|http| !http.is_null()) else {
        return Ok((PolicyParts::default(), true));
    };
    let http = http.as_object().ok_or("http must be a JSON object")?;
    reject_unknown(
        http,
        &[
            "defaultHealthyRetryPolicy",
            "defaultSicklyRetryPolicy",
            "disableSubscriptionOverrides",
            "defaultThrottlePolicy",
            "defaultRequestPolicy",
        ],
        "http",
    )?;
    let overrides_allowed = match http.get("disableSubscriptionOverrides") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(disabled)) => !disabled,
        Some(other) => {
            return Err(format!(
                "http.disableSubscriptionOverrides type mismatch, expecting boolean, received a {}",
                json_kind(other)
            ))
        }
    };
    let parts = parse_parts(http, "defaultHealthyRetryPolicy", "defaultThrottlePolicy", "defaultRequestPolicy")
        .map_err(|reason| format!("http.{reason}"))?;
    Ok((parts, overrides_allowed))
}

fn parse_parts(object: &Map<String, Value>, retry: &str, throttle: &str, request: &str) -> Result<PolicyParts, String> {
    let mut parts = PolicyParts::default();
    if let Some(value) = object.get(retry).filter(|value| !value.is_null()) {
        parts.retry = Some(RetryPolicy::parse(value, retry)?);
    }
    if let Some(value) = object.get(throttle).filter(|value| !value.is_null()) {
        let throttle_object = value.as_object().ok_or_else(|| format!("{throttle} must be a JSON object"))?;
        reject_unknown(throttle_object, &["maxReceivesPerSecond"], throttle)?;
        parts.max_receives_per_second = match throttle_object.get("maxReceivesPerSecond") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => match number.as_u64() {
                Some(rate) if rate >= 1 => Some(rate),
                _ => return Err(format!("{throttle}.maxReceivesPerSecond must be an integer greater than or equal to 1")),
            },
            Some(other) => {
                return Err(format!(
                    "{throttle}.maxReceivesPerSecond type mismatch, expecting integer, received a {}",
                    json_kind(other)
                ))
            }
        };
    }
    if let Some(value) = object.get(request).filter(|value| !value.is_null()) {
        let request_object = value.as_object().ok_or_else(|| format!("{request} must be a JSON object"))?;
        reject_unknown(request_object, &["headerContentType"], request)?;
        parts.content_type = match request_object.get("headerContentType") {
            None | Some(Value::Null) => None,
            Some(Value::String(content_type)) if CONTENT_TYPES.contains(&content_type.as_str()) => {
                Some(content_type.clone())
            }
            Some(_) => {
                return Err(format!(
                    "{request}.headerContentType must be one of: {}",
                    CONTENT_TYPES.join(", ")
                ))
            }
        };
    }
    Ok(parts)
}

/// Reads the whole number `name` of a retry policy, `None` when it is
/// missing or null.
fn integer_field(object: &Map<String, Value>, path: &str, name: &str) -> Result<Option<u64>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.is_f64() => {
            Err(format!("{path}.{name} type mismatch, expecting integer, received a decimal"))
        }
        Some(Value::Number(number)) => match number.as_u64() {
            Some(value) => Ok(Some(value)),
            None => Err(format!("{path}.{name} must be greater than or equal to 0")),
        },
        Some(other) => Err(format!("{path}.{name} type mismatch, expecting integer, received a {}", json_kind(other))),
    }
}

fn reject_unknown(object: &Map<String, Value>, known: &[&str], path: &str) -> Result<(), String> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) if path.is_empty() => Err(format!("{key} is not a valid delivery policy attribute")),
        Some(key) => Err(format!("{path}.{key} is not a valid delivery policy attribute")),
        None => Ok(()),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_policy(text: &str) -> Result<RetryPolicy, String> {
        RetryPolicy::parse(&serde_json::from_str(text).unwrap(), "healthyRetryPolicy")
    }

    fn delays(policy: &RetryPolicy) -> Vec<u64> {
        (1..=policy.retries + 1).map_while(|retry| policy.delay_before(retry)).collect()
    }

    #[test]
    fn default_policy_retries_three_times_twenty_seconds_apart() {
        assert_eq!(delays(&RetryPolicy::default()), vec![20, 20, 20]);
    }

    #[test]
    fn phases_run_in_order() {
        let policy = retry_policy(
            r#"{"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50, "numNoDelayRetries": 3,
                "numMinDelayRetries": 2, "numMaxDelayRetries": 35, "backoffFunction": "exponential"}"#,
        )
        .unwrap();

        let delays = delays(&policy);

        assert_eq!(delays.len(), 50);
        assert_eq!(delays[..3], [0, 0, 0]);
        assert_eq!(delays[3..5], [1, 1]);
        assert_eq!(delays[5], 1, "the backoff starts at minDelayTarget");
        assert_eq!(delays[14], 60, "the backoff ends at maxDelayTarget");
        assert!(delays[5..15].windows(2).all(|pair| pair[0] <= pair[1]), "the backoff never shrinks: {delays:?}");
        assert!(delays[15..].iter().all(|&delay| delay == 60));
    }

    #[test]
    fn every_backoff_function_spans_the_targets() {
        for function in ["linear", "arithmetic", "geometric", "exponential"] {
            let text = format!(
                r#"{{"minDelayTarget": 5, "maxDelayTarget": 260, "numRetries": 10, "backoffFunction": "{function}"}}"#
            );
            let delays = delays(&retry_policy(&text).unwrap());

            assert_eq!(delays.first(), Some(&5), "{function}");
            assert_eq!(delays.last(), Some(&260), "{function}");
            assert!(delays.windows(2).all(|pair| pair[0] <= pair[1]), "{function}: {delays:?}");
        }
    }

    #[test]
    fn invalid_retry_policies_are_rejected() {
        let cases = [
            (r#"{"maxDelayTarget": 5, "numRetries": 1}"#, "healthyRetryPolicy.minDelayTarget must be specified"),
            (
                r#"{"minDelayTarget": 0, "maxDelayTarget": 5, "numRetries": 1}"#,
                "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1",
            ),
            (
                r#"{"minDelayTarget": 6, "maxDelayTarget": 5, "numRetries": 1}"#,
                "healthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 101}"#,
                "healthyRetryPolicy.numRetries must be less than or equal to 100",
            ),
            (
                r#"{"minDelayTarget": "5", "maxDelayTarget": 5, "numRetries": 1}"#,
                "healthyRetryPolicy.minDelayTarget type mismatch, expecting integer, received a string",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 2, "numNoDelayRetries": 3}"#,
                "healthyRetryPolicy.numRetries must be greater than or equal to total of numMinDelayRetries, numNoDelayRetries and numMaxDelayRetries",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1, "numNoDelayRetries": -1}"#,
                "healthyRetryPolicy.numNoDelayRetries must be greater than or equal to 0",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1,
                    "numNoDelayRetries": 18446744073709551615, "numMaxDelayRetries": 18446744073709551615}"#,
                "healthyRetryPolicy.numRetries must be greater than or equal to total of numMinDelayRetries, numNoDelayRetries and numMaxDelayRetries",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1, "backoffFunction": "cubic"}"#,
                "healthyRetryPolicy.backoffFunction must be one of linear, arithmetic, geometric, exponential",
            ),
            (
                r#"{"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1, "numRetry": 2}"#,
                "healthyRetryPolicy.numRetry is not a valid delivery policy attribute",
            ),
            (
                r#"{"minDelayTarget": 60, "maxDelayTarget": 3600, "numRetries": 3, "numMaxDelayRetries": 2}"#,
                "healthyRetryPolicy: the retries take 7260 seconds in all, more than the limit of 3600",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(retry_policy(text), Err(expected.to_string()), "{text}");
        }
    }

    #[test]
    fn subscription_overrides_topic_unless_disabled() {
        let topic = r#"{"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 5, "numRetries": 1},
                         "defaultRequestPolicy": {"headerContentType": "application/json"}}}"#;
        let subscription = r#"{"healthyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 2, "numRetries": 4}}"#;

        let combined = EffectivePolicy::of(Some(topic), Some(subscription));
        assert_eq!(combined.retry.retries, 4);
        assert_eq!(combined.content_type, "application/json");

        let locked = topic.replacen("{\"http\": {", "{\"http\": {\"disableSubscriptionOverrides\": true, ", 1);
        let combined = EffectivePolicy::of(Some(&locked), Some(subscription));
        assert_eq!(combined.retry.retries, 1);
    }

    #[test]
    fn topic_policy_errors_name_their_path() {
        let text = r#"{"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 0}}}"#;

        assert_eq!(
            check_topic_policy(text),
            Err("http.defaultThrottlePolicy.maxReceivesPerSecond must be an integer greater than or equal to 1".into())
        );
    }
}
