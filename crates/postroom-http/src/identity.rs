//! The sender of a request: account, region and access key, read from the
//! SigV4 credential scope.
//!
//! Signatures are not verified. The access key decides the account: a key of
//! 12 digits is that account, any other key acts in the default account.

/// Fields of a SigV4 credential scope: `<key>/<date>/<region>/<service>/aws4_request`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credential {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// Region used when a request carries no signature.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Credential {
    fn parse(scope: &str) -> Option<Self> {
        let mut parts = scope.trim().split('/');
        let access_key = parts.next()?.to_string();
        let _date = parts.next()?;
        let region = parts.next()?.to_string();
        let service = parts.next()?.to_string();
        if access_key.is_empty() || region.is_empty() {
            return None;
        }
        Some(Self { access_key, region, service })
    }

    /// Reads the credential from an `Authorization` header value.
    pub fn from_authorization(header: &str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256")?;
        let start = rest.find("Credential=")? + "Credential=".len();
        let scope = rest[start..].split(',').next()?;
        Self::parse(scope)
    }

    /// Reads the credential from a presigned request's `X-Amz-Credential`.
    pub fn from_query_parameter(value: &str) -> Option<Self> {
        Self::parse(value)
    }

    pub fn account(&self, default_account: &str) -> String {
        if self.access_key.len() == 12 && self.access_key.chars().all(|c| c.is_ascii_digit()) {
            self.access_key.clone()
        } else {
            default_account.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/eu-west-1/sqs/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        let credential = Credential::from_authorization(header).expect("valid header");
        assert_eq!(credential.access_key, "AKIDEXAMPLE");
        assert_eq!(credential.region, "eu-west-1");
        assert_eq!(credential.service, "sqs");
        assert_eq!(credential.account("000000000000"), "000000000000");
    }

    #[test]
    fn numeric_key_is_the_account() {
        let credential = Credential::from_query_parameter("123456789012/20261204/us-east-1/sqs/aws4_request").expect("valid");
        assert_eq!(credential.account("000000000000"), "123456789012");
    }

    #[test]
    fn rejects_other_schemes() {
        assert_eq!(Credential::from_authorization("Basic dXNlcjpwYXNz"), None);
        assert_eq!(Credential::from_authorization("AWS4-HMAC-SHA256 Signature=abc"), None);
    }
}
