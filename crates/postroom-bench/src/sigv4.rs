//! AWS Signature Version 4 for request headers, as the AWS SDKs sign SQS
//! requests: the payload's SHA-256 enters the canonical request but is not
//! sent as a header.
//!
//! The algorithm is AWS's "Create a signed AWS API request" (canonical
//! request, string to sign, derived key, HMAC-SHA256). Paths and query
//! strings are taken as already URI-encoded, which holds for the `/` path
//! and empty query of the JSON protocol.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::Mutex;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Credentials and scope shared by every request of a run.
#[derive(Debug)]
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    service: String,
    /// The signing key of the last date signed for, with that
    /// `yyyymmdd` date. The key changes only with the date, and deriving it
    /// takes four HMACs.
    day_key: Mutex<Option<(String, [u8; 32])>>,
}

/// One request to sign. Header names may be in any case; `host` and
/// `x-amz-date` must be among them, as SigV4 requires.
#[derive(Debug)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// URI-encoded path, such as `/`.
    pub path: &'a str,
    /// URI-encoded query string without the `?`, or empty.
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

impl Signer {
    pub fn new(access_key: String, secret_key: String, region: String, service: String) -> Self {
        Self { access_key, secret_key, region, service, day_key: Mutex::new(None) }
    }

    /// Computes the `Authorization` header value for `request`, made at
    /// `timestamp`, which is the `yyyymmddThhmmssZ` value of its
    /// `x-amz-date` header.
    pub fn authorization(&self, request: &SignableRequest<'_>, timestamp: &str) -> String {
        let date = timestamp.get(..8).unwrap_or(timestamp);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let (canonical_request, signed_headers) = canonical_request(request);
        let string_to_sign = format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));
        let key = self.cached_signing_key(date);
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        )
    }

    /// Returns the signing key for `date`, derived again only when the date
    /// differs from the last one.
    fn cached_signing_key(&self, date: &str) -> [u8; 32] {
        // A poisoned lock only means that another thread panicked while
        // holding it, and the cached pair is still consistent.
        let mut cached = self.day_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match cached.as_ref() {
            Some((cached_date, key)) if cached_date == date => *key,
            _ => {
                let key = self.signing_key(date);
                *cached = Some((date.to_string(), key));
                key
            }
        }
    }

    /// Derives the signing key for one day: HMAC chains over the date,
    /// region, service and the `aws4_request` terminator.
    pub fn signing_key(&self, date: &str) -> [u8; 32] {
        let secret = format!("AWS4{}", self.secret_key);
        let date_key = hmac_sha256(secret.as_bytes(), date.as_bytes());
        let region_key = hmac_sha256(&date_key, self.region.as_bytes());
        let service_key = hmac_sha256(&region_key, self.service.as_bytes());
        hmac_sha256(&service_key, b"aws4_request")
    }
}

/// Formats `time` as SigV4's `x-amz-date` value, such as `20150830T123600Z`.
pub fn amz_date(time: OffsetDateTime) -> String {
    let utc = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Builds the canonical request and the `SignedHeaders` list.
fn canonical_request(request: &SignableRequest<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> =
        request.headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), collapse_spaces(value))).collect();
    headers.sort();

    let mut canonical_headers = String::new();
    for (name, value) in &headers {
        let _ = writeln!(canonical_headers, "{name}:{value}");
    }
    let signed_headers = headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");

    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        canonical_query(request.query),
        sha256_hex(request.payload)
    );
    (canonical, signed_headers)
}

/// Sorts the query parameters by name, then by value, as SigV4 requires.
fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(&str, &str)> =
        query.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, ""))).collect();
    pairs.sort();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// Trims a header value and collapses inner runs of spaces to one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    //! Vectors from AWS's SigV4 test suite (`get-vanilla`,
    //! `get-vanilla-query-order-key-case`, `post-x-www-form-urlencoded`)
    //! and the IAM `ListUsers` example of AWS's signing documentation, all
    //! with the example key AKIDEXAMPLE at 2015-08-30T12:36:00Z.

    use super::*;

    const TIMESTAMP: &str = "20150830T123600Z";

    fn signer(service: &str) -> Signer {
        Signer::new(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            "us-east-1".into(),
            service.into(),
        )
    }

    fn signature(authorization: &str) -> &str {
        authorization.rsplit("Signature=").next().unwrap_or_default()
    }

    #[test]
    fn get_vanilla_vector() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", TIMESTAMP)];
        let request = SignableRequest { method: "GET", path: "/", query: "", headers: &headers, payload: b"" };
        let authorization = signer("service").authorization(&request, TIMESTAMP);
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn query_order_vector() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", TIMESTAMP)];
        let request = SignableRequest {
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &headers,
            payload: b"",
        };
        let authorization = signer("service").authorization(&request, TIMESTAMP);
        assert_eq!(signature(&authorization), "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    }

    #[test]
    fn post_form_vector() {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", TIMESTAMP),
        ];
        let request =
            SignableRequest { method: "POST", path: "/", query: "", headers: &headers, payload: b"Param1=value1" };
        let authorization = signer("service").authorization(&request, TIMESTAMP);
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date,"), "{authorization}");
        assert_eq!(signature(&authorization), "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    }

    #[test]
    fn iam_list_users_example() {
        let signer = signer("iam");
        assert_eq!(
            hex::encode(signer.signing_key("20150830")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );

        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", TIMESTAMP),
        ];
        let request = SignableRequest {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            payload: b"",
        };
        let (canonical, _) = canonical_request(&request);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            signer.authorization(&request, TIMESTAMP),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn cached_key_follows_date() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", TIMESTAMP)];
        let request = SignableRequest { method: "GET", path: "/", query: "", headers: &headers, payload: b"" };
        let signer = signer("service");
        let first = signer.authorization(&request, TIMESTAMP);
        let next_day = signer.authorization(&request, "20150831T123600Z");
        assert_ne!(signature(&first), signature(&next_day));
        assert_eq!(signer.authorization(&request, TIMESTAMP), first);
        assert_eq!(signature(&first), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    }

    #[test]
    fn amz_date_format() {
        let time = OffsetDateTime::from_unix_timestamp(1_440_938_160).expect("valid timestamp");
        assert_eq!(amz_date(time), TIMESTAMP);
    }

    #[test]
    fn header_values_collapse_spaces() {
        assert_eq!(collapse_spaces("  a   b c  "), "a b c");
    }
}
