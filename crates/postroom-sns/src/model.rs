//! Topics and subscriptions as stored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const TOPIC_KIND: &str = "sns/topic";
pub const SUBSCRIPTION_KIND: &str = "sns/subscription";
/// HTTP subscriptions that were removed, kept by topic and token so that
/// the token of their unsubscribe confirmation can restore them.
pub const UNSUBSCRIBED_KIND: &str = "sns/unsubscribed";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Topic {
    pub account: String,
    pub region: String,
    pub name: String,
    /// Settable attributes by their AWS names.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl Topic {
    pub fn arn(&self) -> String {
        topic_arn(&self.account, &self.region, &self.name)
    }

    pub fn key(&self) -> String {
        topic_key(&self.account, &self.region, &self.name)
    }

    pub fn is_fifo(&self) -> bool {
        self.attributes.get("FifoTopic").is_some_and(|v| v == "true")
    }
}

pub fn topic_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{account}:{name}")
}

pub fn topic_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// Splits a topic ARN into account, region and name.
pub fn parse_topic_arn(arn: &str) -> Option<(String, String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("sns"), Some(region), Some(account), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let valid = !region.is_empty() && account.len() == 12 && !name.is_empty() && !name.contains(':');
    valid.then(|| (account.to_string(), region.to_string(), name.to_string()))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub topic_arn: String,
    pub owner: String,
    pub protocol: String,
    pub endpoint: String,
    /// Settable attributes: RawMessageDelivery, FilterPolicy,
    /// FilterPolicyScope, RedrivePolicy, DeliveryPolicy.
    pub attributes: BTreeMap<String, String>,
    pub confirmed: bool,
    /// Token of the pending confirmation of an HTTP subscription.
    pub token: Option<String>,
    /// `host:port` that clients used to reach this server, for the URLs in
    /// messages.
    pub host: String,
}

impl Subscription {
    pub fn arn(&self) -> String {
        format!("{}:{}", self.topic_arn, self.id)
    }

    pub fn key(&self) -> String {
        subscription_key(&self.topic_arn, &self.id)
    }

    pub fn is_raw(&self) -> bool {
        self.attributes.get("RawMessageDelivery").is_some_and(|v| v == "true")
    }
}

pub fn subscription_key(topic_arn: &str, id: &str) -> String {
    format!("{topic_arn}|{id}")
}

/// Splits a subscription ARN into its topic ARN and id.
pub fn parse_subscription_arn(arn: &str) -> Option<(String, String)> {
    let (topic, id) = arn.rsplit_once(':')?;
    parse_topic_arn(topic)?;
    (!id.is_empty()).then(|| (topic.to_string(), id.to_string()))
}

/// Key of a removed HTTP subscription by the token that restores it.
pub fn unsubscribed_key(topic_arn: &str, token: &str) -> String {
    format!("{topic_arn}|{token}")
}
