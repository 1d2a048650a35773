//! Request routing and the two SQS wire protocols.

use crate::identity::{Credential, DEFAULT_REGION};
use crate::{admin, query};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use postroom_queue::QueueEngine;
use postroom_sqs::{DocumentTree, ErrorKind, JsonText, RequestContext, ResponseEncoding, SqsError, SqsOperation, SqsService};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const JSON_11_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const SQS_TARGET_PREFIX: &str = "AmazonSQS.";
const EVENTS_TARGET_PREFIX: &str = "AWSEvents.";

/// Everything a request handler needs.
pub struct App {
    pub sqs: SqsService,
    pub events: Arc<postroom_events::EventsService>,
    pub sns: Arc<postroom_sns::SnsService>,
    pub engine: Arc<QueueEngine>,
    /// Account of requests whose access key is not a 12-digit account id.
    pub default_account: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    pub version: &'static str,
    pub metrics: crate::metrics::Metrics,
}

pub type HttpResponse = Response<Full<Bytes>>;

/// Wire protocol of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Json,
    Query,
}

impl App {
    pub fn new(engine: Arc<QueueEngine>, default_account: String, max_body_bytes: usize) -> Self {
        let sns = Arc::new(postroom_sns::SnsService::new(engine.clone()));
        Self {
            sqs: SqsService::new(engine.clone()),
            events: Arc::new(postroom_events::EventsService::new(engine.clone(), sns.clone())),
            sns,
            engine,
            default_account,
            max_body_bytes,
            version: env!("CARGO_PKG_VERSION"),
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Handles one HTTP request.
    pub async fn handle(self: Arc<Self>, request: Request<hyper::body::Incoming>) -> HttpResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                let too_large = error.downcast_ref::<http_body_util::LengthLimitError>().is_some();
                let (status, message) = if too_large {
                    (StatusCode::PAYLOAD_TOO_LARGE, format!("The request body exceeds the limit of {} bytes.", self.max_body_bytes))
                } else {
                    (StatusCode::BAD_REQUEST, format!("The request body could not be read: {error}"))
                };
                return plain_error(status, &message, &request_id);
            }
        };
        let request = Request::from_parts(parts, body);

        if request.uri().path().starts_with(admin::PREFIX) {
            return admin::handle(&self, &request).await;
        }
        let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(String::from);
        match target {
            Some(target) => self.handle_json(&request, &target, &request_id).await,
            None => self.handle_query(&request, &request_id).await,
        }
    }

    fn context(&self, request: &Request<Bytes>, query_credential: Option<Credential>) -> RequestContext {
        let credential = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(Credential::from_authorization)
            .or(query_credential);
        let host = request
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost:4566".to_string());
        match credential {
            Some(credential) => RequestContext {
                account: credential.account(&self.default_account),
                region: credential.region.clone(),
                access_key: Some(credential.access_key),
                host,
            },
            None => RequestContext {
                account: self.default_account.clone(),
                region: DEFAULT_REGION.to_string(),
                access_key: None,
                host,
            },
        }
    }

    async fn handle_json(&self, request: &Request<Bytes>, target: &str, request_id: &str) -> HttpResponse {
        if let Some(operation_name) = target.strip_prefix(EVENTS_TARGET_PREFIX) {
            return self.handle_events(request, operation_name, request_id).await;
        }
        let Some(operation_name) = target.strip_prefix(SQS_TARGET_PREFIX) else {
            let service = target.split('.').next().unwrap_or(target);
            let error = SqsError::new(
                ErrorKind::UnknownOperation,
                format!("The service {service} of target {target} is not offered by this server."),
            );
            return json_error(&error, request_id);
        };
        let Some(operation) = SqsOperation::from_name(operation_name) else {
            let error = SqsError::new(ErrorKind::UnknownOperation, format!("The operation {operation_name} is not part of the SQS API."));
            return json_error(&error, request_id);
        };
        let input = if request.body().is_empty() {
            Value::Object(Default::default())
        } else {
            match json_object(request.body()) {
                Ok(value) => value,
                Err(message) => {
                    let error = SqsError::new(ErrorKind::SerializationException, message);
                    return json_error(&error, request_id);
                }
            }
        };
        let context = self.context(request, None);
        let result = self.call::<JsonText>(operation, &context, input, Protocol::Json, request_id).await;
        match result {
            Ok(body) => response(StatusCode::OK, JSON_CONTENT_TYPE, body, request_id),
            Err(error) => json_error(&error, request_id),
        }
    }

    /// Handles an EventBridge request in the AWS JSON 1.1 protocol.
    async fn handle_events(&self, request: &Request<Bytes>, operation_name: &str, request_id: &str) -> HttpResponse {
        use postroom_events::{ErrorKind, EventsError, EventsOperation};
        let started = std::time::Instant::now();
        let result = match EventsOperation::from_name(operation_name) {
            None => Err(EventsError::new(
                ErrorKind::UnknownOperationException,
                format!("The operation {operation_name} is not part of the EventBridge API."),
            )),
            Some(operation) => {
                let input = if request.body().is_empty() {
                    Ok(Value::Object(Default::default()))
                } else {
                    json_object(request.body()).map_err(|message| EventsError::new(ErrorKind::SerializationException, message))
                };
                match input {
                    Ok(input) => {
                        let sqs_context = self.context(request, None);
                        let context = postroom_events::EventsContext { account: sqs_context.account, region: sqs_context.region };
                        let span = tracing::info_span!("request", service = "events", operation = operation.name(), request_id);
                        let result = self.events.call(operation, &context, input).instrument(span).await;
                        let status = result.as_ref().map_or_else(|error| error.kind.status(), |_| 200);
                        self.metrics.record("events", operation.name(), status, started.elapsed());
                        result
                    }
                    Err(error) => Err(error),
                }
            }
        };
        match result {
            Ok(output) => {
                let body = serde_json::to_vec(&output).unwrap_or_else(|_| b"{}".to_vec());
                response(StatusCode::OK, JSON_11_CONTENT_TYPE, body, request_id)
            }
            Err(error) => {
                if error.kind.status() >= 500 {
                    tracing::error!(%error, "request failed");
                } else {
                    tracing::debug!(%error, "request rejected");
                }
                let body = serde_json::json!({"__type": error.kind.code(), "message": error.message});
                let status = StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
                response(status, JSON_11_CONTENT_TYPE, body.to_string().into_bytes(), request_id)
            }
        }
    }

    /// Handles an SNS request in the Query protocol.
    async fn handle_sns(&self, action: &str, parameters: &[(String, String)], context: &RequestContext, request_id: &str) -> HttpResponse {
        use postroom_sns::{ErrorKind as SnsErrorKind, SnsContext, SnsError, SnsOperation};
        let started = std::time::Instant::now();
        let result = match SnsOperation::from_name(action) {
            None => Err((None, SnsError::new(SnsErrorKind::InvalidAction, format!("The action {action} is not valid for this endpoint.")))),
            Some(operation) => {
                let input = crate::sns_query::to_document(parameters);
                let sns_context = SnsContext { account: context.account.clone(), region: context.region.clone(), host: context.host.clone() };
                let span = tracing::info_span!("request", service = "sns", operation = operation.name(), request_id);
                let result = self.sns.call(operation, &sns_context, input).instrument(span).await;
                let status = result.as_ref().map_or_else(|error| error.kind.status(), |_| 200);
                self.metrics.record("sns", operation.name(), status, started.elapsed());
                result.map(|output| (operation, output)).map_err(|error| (Some(operation), error))
            }
        };
        match result {
            Ok((operation, output)) => {
                let body = crate::sns_query::encode_response(operation, &output, request_id);
                response(StatusCode::OK, "text/xml", body.into_bytes(), request_id)
            }
            Err((_, error)) => {
                if error.kind.is_sender_fault() {
                    tracing::debug!(%error, "request rejected");
                } else {
                    tracing::error!(%error, "request failed");
                }
                let body = crate::sns_query::encode_error(error.kind.code(), &error.message, error.kind.is_sender_fault(), request_id);
                let status = StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
                response(status, "text/xml", body.into_bytes(), request_id)
            }
        }
    }

    async fn handle_query(&self, request: &Request<Bytes>, request_id: &str) -> HttpResponse {
        let mut parameters: Vec<(String, String)> = request
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if request.method() == Method::POST {
            parameters.extend(form_urlencoded::parse(request.body()).into_owned());
        }

        let find = |name: &str| parameters.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let Some(action) = find("Action") else {
            let error = SqsError::new(ErrorKind::InvalidAction, "The request has no Action parameter and no X-Amz-Target header.");
            return xml_error(&error, request_id);
        };

        let query_credential = find("X-Amz-Credential").and_then(|v| Credential::from_query_parameter(&v));
        let context = self.context(request, query_credential.clone());
        let service = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(Credential::from_authorization)
            .or(query_credential)
            .map(|credential| credential.service);
        let version = find("Version");
        let is_sns = match service.as_deref() {
            Some("sns") => true,
            Some("sqs") => false,
            _ => match version.as_deref() {
                Some("2010-03-31") => true,
                Some("2012-11-05") => false,
                _ => postroom_sns::SnsOperation::from_name(&action).is_some() && SqsOperation::from_name(&action).is_none(),
            },
        };
        if is_sns {
            return self.handle_sns(&action, &parameters, &context, request_id).await;
        }
        if let Some(service) = service.filter(|service| !service.is_empty() && service != "sqs") {
            let error = SqsError::new(ErrorKind::InvalidAction, format!("The service {service} is not offered by this server."));
            return xml_error(&error, request_id);
        }
        let Some(operation) = SqsOperation::from_name(&action) else {
            return xml_error(&query::unknown_action(&action), request_id);
        };

        // Older clients post to the queue URL and leave QueueUrl out.
        let path = request.uri().path();
        if find("QueueUrl").is_none() && path.trim_matches('/').contains('/') {
            parameters.push(("QueueUrl".to_string(), format!("http://{}{}", context.host, path)));
        }

        let input = match query::to_document(operation, &parameters) {
            Ok(input) => input,
            Err(error) => return xml_error(&error, request_id),
        };
        match self.call::<DocumentTree>(operation, &context, input, Protocol::Query, request_id).await {
            Ok(output) => {
                let body = query::encode_response(operation, &output, request_id);
                response(StatusCode::OK, "text/xml", body.into_bytes(), request_id)
            }
            Err(error) => xml_error(&error, request_id),
        }
    }

    async fn call<E: ResponseEncoding>(
        &self,
        operation: SqsOperation,
        context: &RequestContext,
        input: Value,
        protocol: Protocol,
        request_id: &str,
    ) -> Result<E::Document, SqsError> {
        let span = tracing::info_span!(
            "request",
            service = "sqs",
            operation = operation.name(),
            request_id,
            account = %context.account,
            protocol = ?protocol,
        );
        async {
            let started = std::time::Instant::now();
            let result = self.sqs.call::<E>(operation, context, input).await;
            let status = match &result {
                Ok(_) => {
                    tracing::debug!("request succeeded");
                    200
                }
                Err(error) if error.kind.is_sender_fault() => {
                    tracing::debug!(%error, "request rejected");
                    error.kind.status()
                }
                Err(error) => {
                    tracing::error!(%error, "request failed");
                    error.kind.status()
                }
            };
            self.metrics.record("sqs", operation.name(), status, started.elapsed());
            result
        }
        .instrument(span)
        .await
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>, request_id: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

fn status_of(error: &SqsError) -> StatusCode {
    StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn json_error(error: &SqsError, request_id: &str) -> HttpResponse {
    let body = serde_json::json!({"__type": error.kind.json_type(), "message": error.message});
    let mut response = response(status_of(error), JSON_CONTENT_TYPE, body.to_string().into_bytes(), request_id);
    let fault = if error.kind.is_sender_fault() { "Sender" } else { "Receiver" };
    if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", error.kind.query_code())) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

fn xml_error(error: &SqsError, request_id: &str) -> HttpResponse {
    let body = query::encode_sqs_error(error, request_id);
    response(status_of(error), "text/xml", body.into_bytes(), request_id)
}

fn plain_error(status: StatusCode, message: &str, request_id: &str) -> HttpResponse {
    let body = query::encode_error("RequestEntityTooLarge", message, true, request_id);
    response(status, "text/xml", body.into_bytes(), request_id)
}

/// Parses a request body of the JSON protocols, which must be a JSON object.
/// The error names the problem, such as a lone UTF-16 surrogate escape,
/// which JSON allows but a string here cannot hold.
fn json_object(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("The request body is not a JSON object.".to_string()),
        Err(error) => Err(format!("The request body is not valid JSON: {error}.")),
    }
}
