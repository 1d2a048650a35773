//! Queue ARNs: `arn:aws:sqs:<region>:<account>:<name>`.

use postroom_store::QueueKey;

pub fn queue_arn(key: &QueueKey) -> String {
    format!("arn:aws:sqs:{}:{}:{}", key.region, key.account, key.name)
}

/// Parses a queue ARN into the key of the queue it names.
pub fn parse_queue_arn(arn: &str) -> Option<QueueKey> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("sqs"), Some(region), Some(account), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let valid = !region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= 80
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| QueueKey { account: account.to_string(), region: region.to_string(), name: name.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = QueueKey { account: "000000000000".into(), region: "eu-west-1".into(), name: "orders.fifo".into() };
        assert_eq!(parse_queue_arn(&queue_arn(&key)), Some(key));
    }

    #[test]
    fn rejects_other_arns() {
        for bad in [
            "",
            "orders",
            "arn:aws:sns:us-east-1:000000000000:orders",
            "arn:aws:sqs:us-east-1:0000:orders",
            "arn:aws:sqs:us-east-1:000000000000:",
            "arn:aws:sqs::000000000000:orders",
            "arn:aws:sqs:us-east-1:000000000000:has space",
        ] {
            assert_eq!(parse_queue_arn(bad), None, "{bad:?}");
        }
    }
}
