//! Handlers of the message operations.

use crate::error::{ErrorKind, SqsError};
use crate::service::{ranged, Empty, RequestContext, SqsService};
use crate::types::*;
use crate::validate;
use postroom_queue::config::{QueueConfig, MAX_WAIT_TIME_SECONDS, VISIBILITY_TIMEOUT};
use postroom_queue::{DeliveredMessage, OutgoingMessage, ReceiptError, ReceiveOptions, SentMessage};
use postroom_store::{AttributeValue, QueueRecord};
use serde::Serialize;
use std::collections::BTreeMap;

/// System attributes that `ReceiveMessage` can return, for `All`.
const SYSTEM_ATTRIBUTES: &[&str] = &[
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<Message>,
}

/// The queue attributes that `outgoing` checks messages against, read once
/// per request.
struct SendRules {
    fifo: bool,
    content_based_deduplication: bool,
    /// `MaximumMessageSize`, in bytes.
    maximum_message_size: usize,
}

impl SendRules {
    fn of(queue: &QueueRecord) -> Self {
        Self {
            fifo: postroom_queue::config::is_fifo(&queue.attributes),
            content_based_deduplication: queue.attributes.get("ContentBasedDeduplication").is_some_and(|v| v == "true"),
            maximum_message_size: QueueConfig::from_attributes(&queue.attributes).maximum_message_size as usize,
        }
    }
}

/// Validates one message against the queue and converts it for the engine.
fn outgoing(context: &RequestContext, rules: &SendRules, fields: MessageFields) -> Result<OutgoingMessage, SqsError> {
    let body = fields.message_body.filter(|b| !b.is_empty()).ok_or_else(|| SqsError::missing_parameter("MessageBody"))?;
    let delay_seconds = ranged(
        "DelaySeconds",
        fields.delay_seconds,
        0,
        900,
        "DelaySeconds must be >= 0 and <= 900.",
    )?;
    if rules.fifo {
        if let Some(delay) = fields.delay_seconds {
            return Err(SqsError::invalid_parameter(
                "DelaySeconds",
                delay,
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        if fields.message_group_id.is_none() {
            return Err(SqsError::missing_parameter("MessageGroupId"));
        }
        if fields.message_deduplication_id.is_none() && !rules.content_based_deduplication {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
    } else if let Some(id) = &fields.message_deduplication_id {
        return Err(SqsError::invalid_parameter(
            "MessageDeduplicationId",
            id,
            "The request include parameter that is not valid for this queue type.",
        ));
    }
    for (name, value) in [("MessageGroupId", &fields.message_group_id), ("MessageDeduplicationId", &fields.message_deduplication_id)] {
        if let Some(value) = value {
            if value.is_empty() || value.len() > 128 || !value.chars().all(|c| c.is_ascii_graphic()) {
                return Err(SqsError::invalid_parameter(
                    name,
                    value,
                    &format!("{name} can only include alphanumeric and punctuation characters. 1 to 128 in length."),
                ));
            }
        }
    }
    validate::message_body(&body)?;
    let message_attributes = validate::message_attributes(&fields.message_attributes, false)?;
    let system_attributes = validate::message_attributes(&fields.message_system_attributes, true)?;
    let max_size = rules.maximum_message_size;
    if validate::message_size(&body, &message_attributes) > max_size {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes."),
        ));
    }
    Ok(OutgoingMessage {
        body,
        message_attributes,
        system_attributes,
        delay_seconds,
        sender_id: context.sender_id(),
        message_group_id: fields.message_group_id,
        message_deduplication_id: fields.message_deduplication_id,
    })
}

fn send_output(sent: &SentMessage) -> SendMessageOutput {
    SendMessageOutput {
        md5_of_message_attributes: sent.content.md5_of_message_attributes.clone(),
        md5_of_message_body: sent.content.md5_of_body.clone(),
        md5_of_message_system_attributes: sent.content.md5_of_message_system_attributes.clone(),
        message_id: sent.message_id.clone(),
        sequence_number: sent.sequence_number.clone(),
    }
}

fn failed_entry(id: String, error: SqsError) -> BatchResultErrorEntry {
    BatchResultErrorEntry {
        code: error.kind.query_code().to_string(),
        id,
        message: error.message,
        sender_fault: error.kind.is_sender_fault(),
    }
}

fn receipt_error(handle: &str, timeout: Option<u64>, error: ReceiptError) -> SqsError {
    match error {
        ReceiptError::Invalid => SqsError::new(
            ErrorKind::ReceiptHandleIsInvalid,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        ),
        ReceiptError::Expired => SqsError::invalid_parameter("ReceiptHandle", handle, "The receipt handle has expired."),
        ReceiptError::NotInFlight => SqsError::new(ErrorKind::MessageNotInflight, "The message referred to is not in flight."),
        ReceiptError::LimitExceeded => SqsError::invalid_parameter(
            "VisibilityTimeout",
            timeout.unwrap_or_default(),
            "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
        ),
    }
}

fn visibility_timeout(value: Option<i64>) -> Result<Option<u64>, SqsError> {
    ranged(
        "VisibilityTimeout",
        value,
        VISIBILITY_TIMEOUT.min as i64,
        VISIBILITY_TIMEOUT.max as i64,
        "VisibilityTimeout must be an integer between 0 and 43200.",
    )
}

/// Message attributes requested by a receive.
struct AttributeSelection {
    all: bool,
    names: Vec<String>,
    prefixes: Vec<String>,
}

impl AttributeSelection {
    fn new(requested: &[String]) -> Self {
        let mut selection = Self { all: false, names: Vec::new(), prefixes: Vec::new() };
        for name in requested {
            if name == "All" || name == ".*" {
                selection.all = true;
            } else if let Some(prefix) = name.strip_suffix(".*") {
                selection.prefixes.push(format!("{prefix}."));
            } else {
                selection.names.push(name.clone());
            }
        }
        selection
    }

    fn select(&self, name: &str) -> bool {
        self.all || self.names.iter().any(|n| n == name) || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

fn system_attribute_names(input: &ReceiveMessageInput) -> Result<Vec<&'static str>, SqsError> {
    let mut names = Vec::new();
    for name in input.attribute_names.iter().chain(&input.message_system_attribute_names) {
        if name == "All" {
            return Ok(SYSTEM_ATTRIBUTES.to_vec());
        }
        if let Some(known) = SYSTEM_ATTRIBUTES.iter().find(|known| **known == name) {
            if !names.contains(known) {
                names.push(*known);
            }
        }
        // Queue attribute names are accepted through the deprecated
        // AttributeNames parameter and return nothing, as in SQS.
    }
    Ok(names)
}

fn render_message(delivered: DeliveredMessage, system_names: &[&str], selection: &AttributeSelection) -> Message {
    let content = &delivered.content;
    let mut attributes = BTreeMap::new();
    for &name in system_names {
        let value = match name {
            "SenderId" => Some(content.sender_id.clone()),
            "SentTimestamp" => Some(content.sent_at.to_string()),
            "ApproximateReceiveCount" => Some(delivered.receive_count.to_string()),
            "ApproximateFirstReceiveTimestamp" => Some(delivered.first_received_at.to_string()),
            "SequenceNumber" => delivered.sequence_number.clone(),
            "MessageDeduplicationId" => content.message_deduplication_id.clone(),
            "MessageGroupId" => content.message_group_id.clone(),
            "AWSTraceHeader" => content.system_attributes.get("AWSTraceHeader").and_then(|v| v.string_value.clone()),
            "DeadLetterQueueSourceArn" => content.dead_letter_source_arn.clone(),
            _ => None,
        };
        if let Some(value) = value {
            attributes.insert(name.to_string(), value);
        }
    }
    let selected: BTreeMap<String, AttributeValue> = content
        .message_attributes
        .iter()
        .filter(|(name, _)| selection.select(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Message {
        attributes,
        body: content.body.clone(),
        md5_of_body: content.md5_of_body.clone(),
        md5_of_message_attributes: postroom_queue::digest::md5_of_attributes(&selected),
        message_attributes: selected.iter().map(|(name, value)| (name.clone(), validate::attribute_for_response(value))).collect(),
        message_id: content.message_id.clone(),
        receipt_handle: delivered.receipt_handle,
    }
}

impl SqsService {
    pub(crate) async fn send_message(&self, context: &RequestContext, input: SendMessageInput) -> Result<SendMessageOutput, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let message = outgoing(context, &SendRules::of(&queue), input.message)?;
        let sent = self.engine.send(&queue, vec![message]).await?;
        let first = sent.first().ok_or_else(|| SqsError::internal("the store returned no message"))?;
        Ok(send_output(first))
    }

    pub(crate) async fn send_message_batch(
        &self,
        context: &RequestContext,
        input: SendMessageBatchInput,
    ) -> Result<BatchOutput<SendMessageBatchResultEntry>, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        validate::batch_ids(input.entries.iter().map(|e| e.id.as_deref()), "SendMessageBatchRequestEntry")?;
        let total: usize = input
            .entries
            .iter()
            .map(|entry| {
                let body = entry.message.message_body.as_deref().map_or(0, str::len);
                let attributes: usize = entry
                    .message
                    .message_attributes
                    .iter()
                    .map(|(name, value)| {
                        name.len()
                            + value.data_type.as_deref().map_or(0, str::len)
                            + value.string_value.as_deref().map_or(0, str::len)
                            + value.binary_value.as_deref().map_or(0, |b| b.len() * 3 / 4)
                    })
                    .sum();
                body + attributes
            })
            .sum();
        if total > validate::MAX_BATCH_BYTES {
            return Err(SqsError::new(
                ErrorKind::BatchRequestTooLong,
                format!("Batch requests cannot be longer than {} bytes. You have sent {total} bytes.", validate::MAX_BATCH_BYTES),
            ));
        }

        let rules = SendRules::of(&queue);
        let mut failed = Vec::new();
        let mut ids = Vec::new();
        let mut messages = Vec::new();
        for entry in input.entries {
            let id = entry.id.unwrap_or_default();
            match outgoing(context, &rules, entry.message) {
                Ok(message) => {
                    ids.push(id);
                    messages.push(message);
                }
                Err(error) => failed.push(failed_entry(id, error)),
            }
        }
        let sent = if messages.is_empty() { Vec::new() } else { self.engine.send(&queue, messages).await? };
        let successful = ids
            .into_iter()
            .zip(&sent)
            .map(|(id, sent)| SendMessageBatchResultEntry { id, result: send_output(sent) })
            .collect();
        Ok(BatchOutput { failed, successful })
    }

    pub(crate) async fn receive_message(
        &self,
        context: &RequestContext,
        input: ReceiveMessageInput,
    ) -> Result<ReceiveMessageOutput, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let max_messages = ranged(
            "MaxNumberOfMessages",
            input.max_number_of_messages,
            1,
            10,
            "Must be between 1 and 10, if provided.",
        )?
        .unwrap_or(1);
        let visibility_timeout = visibility_timeout(input.visibility_timeout)?;
        let wait_time_seconds = ranged(
            "WaitTimeSeconds",
            input.wait_time_seconds,
            0,
            MAX_WAIT_TIME_SECONDS as i64,
            "Must be >= 0 and <= 20, if provided.",
        )?;
        if let Some(attempt) = &input.receive_request_attempt_id {
            if attempt.is_empty() || attempt.len() > 128 || !attempt.chars().all(|c| c.is_ascii_graphic()) {
                return Err(SqsError::invalid_parameter(
                    "ReceiveRequestAttemptId",
                    attempt,
                    "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
                ));
            }
        }
        let system_names = system_attribute_names(&input)?;
        let selection = AttributeSelection::new(&input.message_attribute_names);
        let options = ReceiveOptions {
            max_messages: max_messages as usize,
            visibility_timeout,
            wait_time_seconds,
            attempt_id: input.receive_request_attempt_id.as_deref(),
        };
        let delivered = self.engine.receive(&queue, options).await?;
        Ok(ReceiveMessageOutput {
            messages: delivered.into_iter().map(|m| render_message(m, &system_names, &selection)).collect(),
        })
    }

    pub(crate) async fn delete_message(&self, context: &RequestContext, input: DeleteMessageInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let handle = input.receipt_handle.ok_or_else(|| SqsError::missing_parameter("ReceiptHandle"))?;
        let results = self.engine.delete(&queue, &[handle.as_str()]).await?;
        match results.into_iter().next() {
            Some(Err(error)) => Err(receipt_error(&handle, None, error)),
            _ => Ok(Empty {}),
        }
    }

    pub(crate) async fn delete_message_batch(
        &self,
        context: &RequestContext,
        input: ReceiptBatchInput,
    ) -> Result<BatchOutput<BatchResultId>, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        validate::batch_ids(input.entries.iter().map(|e| e.id.as_deref()), "DeleteMessageBatchRequestEntry")?;
        let mut output = BatchOutput { failed: Vec::new(), successful: Vec::new() };
        let mut ids = Vec::new();
        let mut handles = Vec::new();
        for entry in &input.entries {
            let id = entry.id.clone().unwrap_or_default();
            match &entry.receipt_handle {
                Some(handle) => {
                    ids.push(id);
                    handles.push(handle.as_str());
                }
                None => output.failed.push(failed_entry(id, SqsError::missing_parameter("ReceiptHandle"))),
            }
        }
        let results = self.engine.delete(&queue, &handles).await?;
        for ((id, handle), result) in ids.into_iter().zip(&handles).zip(results) {
            match result {
                Ok(()) => output.successful.push(BatchResultId { id }),
                Err(error) => output.failed.push(failed_entry(id, receipt_error(handle, None, error))),
            }
        }
        Ok(output)
    }

    pub(crate) async fn change_message_visibility(
        &self,
        context: &RequestContext,
        input: ChangeMessageVisibilityInput,
    ) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let handle = input.receipt_handle.ok_or_else(|| SqsError::missing_parameter("ReceiptHandle"))?;
        let timeout = visibility_timeout(input.visibility_timeout)?.ok_or_else(|| SqsError::missing_parameter("VisibilityTimeout"))?;
        let results = self.engine.change_visibility(&queue, &[(handle.as_str(), timeout)]).await?;
        match results.into_iter().next() {
            Some(Err(error)) => Err(receipt_error(&handle, Some(timeout), error)),
            _ => Ok(Empty {}),
        }
    }

    pub(crate) async fn change_message_visibility_batch(
        &self,
        context: &RequestContext,
        input: ReceiptBatchInput,
    ) -> Result<BatchOutput<BatchResultId>, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        validate::batch_ids(input.entries.iter().map(|e| e.id.as_deref()), "ChangeMessageVisibilityBatchRequestEntry")?;
        let mut output = BatchOutput { failed: Vec::new(), successful: Vec::new() };
        let mut ids = Vec::new();
        let mut changes = Vec::new();
        for entry in &input.entries {
            let id = entry.id.clone().unwrap_or_default();
            let checked = entry
                .receipt_handle
                .as_deref()
                .ok_or_else(|| SqsError::missing_parameter("ReceiptHandle"))
                .and_then(|handle| {
                    let timeout = visibility_timeout(entry.visibility_timeout)?
                        .ok_or_else(|| SqsError::missing_parameter("VisibilityTimeout"))?;
                    Ok((handle, timeout))
                });
            match checked {
                Ok(change) => {
                    ids.push(id);
                    changes.push(change);
                }
                Err(error) => output.failed.push(failed_entry(id, error)),
            }
        }
        let results = self.engine.change_visibility(&queue, &changes).await?;
        for ((id, (handle, timeout)), result) in ids.into_iter().zip(&changes).zip(results) {
            match result {
                Ok(()) => output.successful.push(BatchResultId { id }),
                Err(error) => output.failed.push(failed_entry(id, receipt_error(handle, Some(*timeout), error))),
            }
        }
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{JsonText, ResponseEncoding};

    /// Asserts that JSON text written straight from `output` matches the
    /// text written through a `serde_json::Value`, whose keys are sorted.
    fn assert_sorted_encoding<T: Serialize>(output: &T, name: &str) {
        let direct = JsonText::encode_sorted(output).expect("direct encoding");
        let through_value = JsonText::encode(output).expect("encoding through a Value");
        assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&through_value), "{name}");
    }

    fn send_output(sequence_number: Option<&str>) -> SendMessageOutput {
        SendMessageOutput {
            md5_of_message_attributes: Some("a".repeat(32)),
            md5_of_message_body: "b".repeat(32),
            md5_of_message_system_attributes: Some("c".repeat(32)),
            message_id: "6a1f0c4e-0000-4000-8000-000000000000".to_string(),
            sequence_number: sequence_number.map(str::to_string),
        }
    }

    fn failure(id: &str) -> BatchResultErrorEntry {
        failed_entry(id.to_string(), SqsError::missing_parameter("ReceiptHandle"))
    }

    #[test]
    fn send_outputs_sorted() {
        assert_sorted_encoding(&send_output(Some("10000000000000000001")), "SendMessage");
        assert_sorted_encoding(&send_output(None), "SendMessage without sequence number");
        let batch = BatchOutput {
            failed: vec![failure("b")],
            successful: vec![SendMessageBatchResultEntry { id: "a".to_string(), result: send_output(Some("1")) }],
        };
        assert_sorted_encoding(&batch, "SendMessageBatch");
    }

    #[test]
    fn receive_output_sorted() {
        let attributes = [("SenderId", "AIDAEXAMPLE"), ("SentTimestamp", "1700000000000")]
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let string_attribute =
            AttributeValue { data_type: "String".to_string(), string_value: Some("x".to_string()), binary_value: None };
        let binary_attribute =
            AttributeValue { data_type: "Binary".to_string(), string_value: None, binary_value: Some(vec![0, 1, 2]) };
        let message_attributes = [("kind", &string_attribute), ("raw", &binary_attribute)]
            .into_iter()
            .map(|(name, value)| (name.to_string(), validate::attribute_for_response(value)))
            .collect();
        let message = Message {
            attributes,
            body: "body \"quoted\" \u{1F600}".to_string(),
            md5_of_body: "d".repeat(32),
            md5_of_message_attributes: Some("e".repeat(32)),
            message_attributes,
            message_id: "id".to_string(),
            receipt_handle: "handle".to_string(),
        };
        assert_sorted_encoding(&ReceiveMessageOutput { messages: vec![message] }, "ReceiveMessage");
        assert_sorted_encoding(&ReceiveMessageOutput { messages: Vec::new() }, "empty ReceiveMessage");
    }

    #[test]
    fn receipt_outputs_sorted() {
        let batch = BatchOutput { failed: vec![failure("b")], successful: vec![BatchResultId { id: "a".to_string() }] };
        assert_sorted_encoding(&batch, "DeleteMessageBatch");
        assert_sorted_encoding(&Empty {}, "DeleteMessage");
    }
}
