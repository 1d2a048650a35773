//! One HTTP/1.1 keep-alive connection that sends signed requests to SQS,
//! SNS and EventBridge, each in the protocol that the AWS SDKs use for it.

use crate::sigv4::{amz_date, SignableRequest, Signer};
use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// An AWS service that the load generator calls, with its wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// SQS over AWS JSON 1.0.
    Sqs,
    /// SNS over the Query protocol: form-encoded parameters, XML responses.
    Sns,
    /// EventBridge over AWS JSON 1.1.
    Events,
}

impl Service {
    /// Name of the service in the SigV4 credential scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Self::Sqs => "sqs",
            Self::Sns => "sns",
            Self::Events => "events",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Sqs => "application/x-amz-json-1.0",
            Self::Sns => "application/x-www-form-urlencoded; charset=utf-8",
            Self::Events => "application/x-amz-json-1.1",
        }
    }

    /// Prefix of the `X-Amz-Target` header of the JSON protocols.
    fn target_prefix(self) -> Option<&'static str> {
        match self {
            Self::Sqs => Some("AmazonSQS"),
            Self::Sns => None,
            Self::Events => Some("AWSEvents"),
        }
    }
}

/// API version that every SNS Query request names.
const SNS_VERSION: &str = "2010-03-31";

/// One signer per service, from the same credentials and region.
#[derive(Debug)]
pub struct Signers {
    sqs: Signer,
    sns: Signer,
    events: Signer,
}

impl Signers {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        let signer = |service: Service| {
            Signer::new(access_key.into(), secret_key.into(), region.into(), service.signing_name().into())
        };
        Self { sqs: signer(Service::Sqs), sns: signer(Service::Sns), events: signer(Service::Events) }
    }

    fn get(&self, service: Service) -> &Signer {
        match service {
            Service::Sqs => &self.sqs,
            Service::Sns => &self.sns,
            Service::Events => &self.events,
        }
    }
}

/// An `http://host:port` endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The URL as given, without a trailing slash.
    pub url: String,
    /// `host:port`, the value of the `Host` header and the address to
    /// connect to.
    pub authority: String,
}

impl Endpoint {
    /// Parses `http://host:port`. TLS is not supported, because a load
    /// generator on loopback has no use for it.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let trimmed = url.trim_end_matches('/');
        let Some(authority) = trimmed.strip_prefix("http://") else {
            bail!("invalid endpoint {url:?}: expected http://host:port (https is not supported)");
        };
        if authority.is_empty() || authority.contains('/') {
            bail!("invalid endpoint {url:?}: expected http://host:port with no path");
        }
        // An address without a port uses 80, as in any http URL. A port
        // that is there must be valid. The colons of a bracketed IPv6
        // address are not a port.
        let authority = match authority.rsplit_once(':') {
            Some((_, port)) if !port.ends_with(']') => {
                if port.parse::<u16>().map_or(true, |port| port == 0) {
                    bail!("invalid endpoint {url:?}: the port {port:?} is not a number from 1 to 65535");
                }
                authority.to_string()
            }
            _ => format!("{authority}:80"),
        };
        Ok(Self { url: trimmed.to_string(), authority })
    }
}

/// Failure of a call.
#[derive(Debug)]
pub enum CallError {
    /// The endpoint returned an error status. `code` is the AWS error code
    /// without its namespace, such as `QueueDoesNotExist` or `NotFound`.
    Service { status: u16, code: String, message: String },
    /// Connecting, writing or reading failed.
    Transport(String),
    /// No complete response arrived within the request timeout.
    Timeout,
    /// The measurement ended while the request was in flight.
    Abandoned,
}

impl CallError {
    /// Returns the key under which reports count this error.
    pub fn code(&self) -> String {
        match self {
            Self::Service { status, code, .. } => format!("{code} ({status})"),
            Self::Transport(_) => "transport error".to_string(),
            Self::Timeout => "timeout".to_string(),
            Self::Abandoned => "abandoned".to_string(),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Service { status, code, message } => write!(f, "HTTP {status} {code}: {message}"),
            Self::Transport(error) => write!(f, "transport error: {error}"),
            Self::Timeout => write!(f, "timed out"),
            Self::Abandoned => write!(f, "abandoned at the end of the measurement"),
        }
    }
}

impl std::error::Error for CallError {}

/// Error body of the AWS JSON protocols.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", default)]
    error_type: String,
    #[serde(alias = "Message", default)]
    message: String,
}

/// A client bound to one endpoint over one connection, reopened after a
/// transport error or a timeout.
pub struct Client {
    endpoint: Endpoint,
    signers: Arc<Signers>,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// Creates a client that connects on its first call. `timeout` bounds
    /// each call, long-poll waits included.
    pub fn new(endpoint: Endpoint, signers: Arc<Signers>, timeout: Duration) -> Self {
        Self { endpoint, signers, timeout, sender: None }
    }

    /// Closes the connection, so that the next call opens a new one. A request
    /// abandoned mid-flight leaves a response on the old connection that the
    /// next request must not read.
    pub fn disconnect(&mut self) {
        self.sender = None;
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `AmazonSQS.<operation>` with the JSON `body` and returns the
    /// body of a 2xx response.
    pub async fn call(&mut self, operation: &str, body: Vec<u8>) -> Result<Bytes, CallError> {
        self.call_service(Service::Sqs, operation, body).await
    }

    /// Calls `operation` of `service` and returns the body of a 2xx
    /// response. `body` is the JSON request of the JSON protocols, and for
    /// SNS the form-encoded parameters other than `Action` and `Version`,
    /// which this adds.
    pub async fn call_service(&mut self, service: Service, operation: &str, body: Vec<u8>) -> Result<Bytes, CallError> {
        match tokio::time::timeout(self.timeout, self.send(service, operation, body)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => {
                if matches!(error, CallError::Transport(_)) {
                    self.sender = None;
                }
                Err(error)
            }
            Err(_) => {
                // The response may still arrive on this connection, so it
                // cannot carry the next request.
                self.sender = None;
                Err(CallError::Timeout)
            }
        }
    }

    /// Like `call`, and decodes the response as `T`.
    pub async fn call_json<T: serde::de::DeserializeOwned>(
        &mut self,
        operation: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        self.call_service_json(Service::Sqs, operation, body).await
    }

    /// Like `call_service` for a JSON protocol, and decodes the response as
    /// `T`.
    pub async fn call_service_json<T: serde::de::DeserializeOwned>(
        &mut self,
        service: Service,
        operation: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        let response = self.call_service(service, operation, body).await?;
        serde_json::from_slice(&response)
            .with_context(|| format!("decoding the {operation} response {:?}", String::from_utf8_lossy(&response)))
    }

    async fn send(&mut self, service: Service, operation: &str, body: Vec<u8>) -> Result<Bytes, CallError> {
        let mut request = self.build_request(service, operation, body)?;
        // A keep-alive connection that the server closed while idle fails
        // before the request is written. One retry on a new connection
        // covers that, and cannot send a request twice.
        let mut retried = false;
        let response = loop {
            let sender = self.connection().await?;
            if let Err(error) = sender.ready().await {
                self.sender = None;
                if retried {
                    return Err(CallError::Transport(error.to_string()));
                }
                retried = true;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(mut error) => {
                    self.sender = None;
                    match error.take_message() {
                        Some(unsent) if !retried => {
                            request = unsent;
                            retried = true;
                        }
                        _ => return Err(CallError::Transport(error.into_error().to_string())),
                    }
                }
            }
        };
        let status = response.status();
        let body =
            response.into_body().collect().await.map_err(|error| CallError::Transport(error.to_string()))?.to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        let (code, message) = match service {
            Service::Sns => query_error(&body),
            Service::Sqs | Service::Events => json_error(&body),
        };
        let code = if code.is_empty() { "unknown".to_string() } else { code };
        let message = if message.is_empty() { String::from_utf8_lossy(&body).into_owned() } else { message };
        Err(CallError::Service { status: status.as_u16(), code, message })
    }

    fn build_request(
        &self,
        service: Service,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<http::Request<Full<Bytes>>, CallError> {
        let body = match service.target_prefix() {
            Some(_) => body,
            None => {
                let mut form = format!("Action={operation}&Version={SNS_VERSION}").into_bytes();
                if !body.is_empty() {
                    form.push(b'&');
                    form.extend_from_slice(&body);
                }
                form
            }
        };
        let target = service.target_prefix().map(|prefix| format!("{prefix}.{operation}"));
        let timestamp = amz_date(OffsetDateTime::now_utc());
        let mut headers = vec![
            ("content-type", service.content_type()),
            ("host", self.endpoint.authority.as_str()),
            ("x-amz-date", timestamp.as_str()),
        ];
        if let Some(target) = &target {
            headers.push(("x-amz-target", target.as_str()));
        }
        let signable = SignableRequest { method: "POST", path: "/", query: "", headers: &headers, payload: &body };
        let authorization = self.signers.get(service).authorization(&signable, &timestamp);

        let mut builder = http::Request::builder().method("POST").uri("/");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .header("authorization", authorization)
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| CallError::Transport(format!("building the request: {error}")))
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, CallError> {
        if self.sender.as_ref().is_some_and(|sender| sender.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(&self.endpoint.authority)
                .await
                .map_err(|error| CallError::Transport(format!("connecting to {}: {error}", self.endpoint.authority)))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|error| CallError::Transport(error.to_string()))?;
            tokio::spawn(async move {
                // The connection ends when the sender is dropped or the
                // server closes it; the next call reports the error.
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| CallError::Transport("no connection".into()))
    }
}

/// Reads the code, without its namespace, and the message of an AWS JSON
/// error body.
fn json_error(body: &[u8]) -> (String, String) {
    let error: ErrorBody =
        serde_json::from_slice(body).unwrap_or(ErrorBody { error_type: String::new(), message: String::new() });
    let code = error.error_type.rsplit('#').next().unwrap_or_default().to_string();
    (code, error.message)
}

/// Reads the code and the message of a Query protocol error,
/// `<ErrorResponse><Error><Code>…</Code><Message>…</Message>`.
fn query_error(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    let field = |tag: &str| crate::sns::xml_text(&text, tag).unwrap_or_default();
    (field("Code"), field("Message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_with_port() {
        let endpoint = Endpoint::parse("http://127.0.0.1:4566/").expect("valid endpoint");
        assert_eq!(endpoint.url, "http://127.0.0.1:4566");
        assert_eq!(endpoint.authority, "127.0.0.1:4566");
    }

    #[test]
    fn endpoint_default_port() {
        let endpoint = Endpoint::parse("http://localhost").expect("valid endpoint");
        assert_eq!(endpoint.authority, "localhost:80");
    }

    #[test]
    fn endpoint_rejects_https_and_paths() {
        assert!(Endpoint::parse("https://127.0.0.1:4566").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:4566/queue").is_err());
        assert!(Endpoint::parse("127.0.0.1:4566").is_err());
    }

    #[test]
    fn json_error_drops_the_namespace() {
        let body = br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}"#;
        assert_eq!(json_error(body), ("QueueDoesNotExist".to_string(), "no such queue".to_string()));
        assert_eq!(json_error(b"<html>"), (String::new(), String::new()));
    }

    #[test]
    fn query_error_reads_code_and_message() {
        let body = b"<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type>\
            <Code>NotFound</Code><Message>Topic does not exist &amp; never did</Message></Error></ErrorResponse>";
        assert_eq!(query_error(body), ("NotFound".to_string(), "Topic does not exist & never did".to_string()));
    }
}
