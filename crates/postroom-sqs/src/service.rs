//! [`SqsService`]: the dispatcher from operations to their handlers.

use crate::error::{ErrorKind, SqsError};
use crate::operation::SqsOperation;
use postroom_queue::QueueEngine;
use postroom_store::{QueueKey, QueueRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Sender and location of a request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub account: String,
    pub region: String,
    /// Access key of the request signature, when there is one.
    pub access_key: Option<String>,
    /// `Host` header of the request, used to build queue URLs that reach
    /// this server the way the client reached it.
    pub host: String,
}

impl RequestContext {
    pub fn queue_url(&self, key: &QueueKey) -> String {
        format!("http://{}/{}/{}", self.host, key.account, key.name)
    }

    /// Identity of the sender, returned as the `SenderId` attribute.
    pub fn sender_id(&self) -> String {
        self.access_key.clone().unwrap_or_else(|| self.account.clone())
    }
}

pub use postroom_queue::arn::queue_arn;

/// The SQS API over a queue engine.
pub struct SqsService {
    pub(crate) engine: Arc<QueueEngine>,
}

impl SqsService {
    pub fn new(engine: Arc<QueueEngine>) -> Self {
        Self { engine }
    }

    pub fn engine(&self) -> &Arc<QueueEngine> {
        &self.engine
    }

    /// Runs one operation on a JSON 1.0 request document and returns the
    /// response in the encoding `E`.
    pub async fn call<E: ResponseEncoding>(
        &self,
        operation: SqsOperation,
        context: &RequestContext,
        input: Value,
    ) -> Result<E::Document, SqsError> {
        use SqsOperation::*;
        match operation {
            CreateQueue => respond::<E, _>(self.create_queue(context, parse(input)?).await),
            DeleteQueue => respond::<E, _>(self.delete_queue(context, parse(input)?).await),
            GetQueueUrl => respond::<E, _>(self.get_queue_url(context, parse(input)?).await),
            ListQueues => respond::<E, _>(self.list_queues(context, parse(input)?).await),
            GetQueueAttributes => respond::<E, _>(self.get_queue_attributes(context, parse(input)?).await),
            SetQueueAttributes => respond::<E, _>(self.set_queue_attributes(context, parse(input)?).await),
            PurgeQueue => respond::<E, _>(self.purge_queue(context, parse(input)?).await),
            TagQueue => respond::<E, _>(self.tag_queue(context, parse(input)?).await),
            UntagQueue => respond::<E, _>(self.untag_queue(context, parse(input)?).await),
            ListQueueTags => respond::<E, _>(self.list_queue_tags(context, parse(input)?).await),
            AddPermission => respond::<E, _>(self.add_permission(context, parse(input)?).await),
            RemovePermission => respond::<E, _>(self.remove_permission(context, parse(input)?).await),
            ListDeadLetterSourceQueues => respond::<E, _>(self.list_dead_letter_source_queues(context, parse(input)?).await),
            SendMessage => respond_sorted::<E, _>(self.send_message(context, parse(input)?).await),
            SendMessageBatch => respond_sorted::<E, _>(self.send_message_batch(context, parse(input)?).await),
            ReceiveMessage => respond_sorted::<E, _>(self.receive_message(context, parse(input)?).await),
            DeleteMessage => respond_sorted::<E, _>(self.delete_message(context, parse(input)?).await),
            DeleteMessageBatch => respond_sorted::<E, _>(self.delete_message_batch(context, parse(input)?).await),
            ChangeMessageVisibility => respond_sorted::<E, _>(self.change_message_visibility(context, parse(input)?).await),
            ChangeMessageVisibilityBatch => respond_sorted::<E, _>(self.change_message_visibility_batch(context, parse(input)?).await),
            StartMessageMoveTask => respond::<E, _>(self.start_message_move_task(context, parse(input)?).await),
            ListMessageMoveTasks => respond::<E, _>(self.list_message_move_tasks(context, parse(input)?).await),
            CancelMessageMoveTask => respond::<E, _>(self.cancel_message_move_task(context, parse(input)?).await),
        }
    }

    /// Finds the queue that a `QueueUrl` names.
    ///
    /// The URL must end in `/<account>/<name>`; its host is not checked, so
    /// URLs built for another host name of this server work too.
    pub(crate) async fn resolve(&self, context: &RequestContext, queue_url: Option<&str>) -> Result<Arc<QueueRecord>, SqsError> {
        let url = queue_url.ok_or_else(|| SqsError::missing_parameter("QueueUrl"))?;
        let key = parse_queue_url(url, &context.region).ok_or_else(|| {
            SqsError::new(ErrorKind::InvalidAddress, format!("The address {url} is not valid for this endpoint."))
        })?;
        Ok(self.engine.get_queue(&key).await?)
    }
}

/// Parses `http(s)://host[:port]/<account>/<name>` into a queue key in
/// `region`.
pub fn parse_queue_url(url: &str, region: &str) -> Option<QueueKey> {
    let path = match url.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.trim_matches('/').split('/');
    let account = segments.next()?;
    let name = segments.next()?;
    if segments.next().is_some() || account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    Some(QueueKey { account: account.to_string(), region: region.to_string(), name: name.to_string() })
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T, SqsError> {
    serde_json::from_value(input)
        .map_err(|error| SqsError::new(ErrorKind::SerializationException, format!("The request is malformed: {error}")))
}

fn respond<E: ResponseEncoding, T: Serialize>(output: Result<T, SqsError>) -> Result<E::Document, SqsError> {
    E::encode(&output?)
}

/// Like [`respond`], for outputs whose fields are declared in the sorted
/// order of their names, down to every nested struct.
fn respond_sorted<E: ResponseEncoding, T: Serialize>(output: Result<T, SqsError>) -> Result<E::Document, SqsError> {
    E::encode_sorted(&output?)
}

/// The form in which [`SqsService::call`] returns a response.
pub trait ResponseEncoding {
    type Document;

    /// Encodes any output.
    fn encode<T: Serialize>(output: &T) -> Result<Self::Document, SqsError>;

    /// Encodes an output whose fields, and those of every struct inside it,
    /// are declared in the sorted order of their names. JSON text written
    /// straight from such an output has its keys in the order in which a
    /// [`Value`] keeps them, so it needs no [`Value`] in between.
    fn encode_sorted<T: Serialize>(output: &T) -> Result<Self::Document, SqsError>;
}

/// A [`Value`], which the Query protocol turns into XML.
pub struct DocumentTree;

impl ResponseEncoding for DocumentTree {
    type Document = Value;

    fn encode<T: Serialize>(output: &T) -> Result<Value, SqsError> {
        serde_json::to_value(output).map_err(SqsError::internal)
    }

    fn encode_sorted<T: Serialize>(output: &T) -> Result<Value, SqsError> {
        Self::encode(output)
    }
}

/// JSON text, the body of an AWS JSON 1.0 response, with the object keys in
/// the order in which a [`Value`] writes them.
pub struct JsonText;

impl ResponseEncoding for JsonText {
    type Document = Vec<u8>;

    fn encode<T: Serialize>(output: &T) -> Result<Vec<u8>, SqsError> {
        serde_json::to_vec(&DocumentTree::encode(output)?).map_err(SqsError::internal)
    }

    fn encode_sorted<T: Serialize>(output: &T) -> Result<Vec<u8>, SqsError> {
        postroom_json::to_vec(output).map_err(SqsError::internal)
    }
}

/// Converts an optional integer parameter, checking its range.
pub(crate) fn ranged(name: &str, value: Option<i64>, min: i64, max: i64, reason: &str) -> Result<Option<u64>, SqsError> {
    match value {
        None => Ok(None),
        Some(v) if v < min || v > max => Err(SqsError::invalid_parameter(name, v, reason)),
        Some(v) => Ok(Some(v as u64)),
    }
}

/// Empty response document.
#[derive(Serialize)]
pub(crate) struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls() {
        let key = parse_queue_url("http://localhost:4566/000000000000/orders", "eu-west-1").expect("valid URL");
        assert_eq!(key.account, "000000000000");
        assert_eq!(key.name, "orders");
        assert_eq!(key.region, "eu-west-1");
        assert!(parse_queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/jobs", "us-east-1").is_some());
        assert!(parse_queue_url("/000000000000/orders", "us-east-1").is_some());
        for bad in ["orders", "http://localhost:4566/orders", "http://h/12/orders", "http://h/000000000000/a/b"] {
            assert!(parse_queue_url(bad, "us-east-1").is_none(), "{bad} must be rejected");
        }
    }
}
