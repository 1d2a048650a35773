//! Handlers of the message move task operations.

use crate::error::{ErrorKind, SqsError};
use crate::queues::is_source_of;
use crate::service::{RequestContext, SqsService};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use postroom_queue::arn::parse_queue_arn;
use postroom_queue::{MoveTaskError, MoveTaskStatus, StartMoveTask};
use postroom_store::{MoveTaskRecord, QueueRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// Fastest rate a task accepts, in messages per second.
const MAX_MESSAGES_PER_SECOND: i64 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskInput {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    max_number_of_messages_per_second: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskOutput {
    task_handle: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksInput {
    source_arn: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksOutput {
    results: Vec<MoveTaskEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MoveTaskEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    task_handle: Option<String>,
    status: String,
    source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_number_of_messages_per_second: Option<u32>,
    approximate_number_of_messages_moved: u64,
    approximate_number_of_messages_to_move: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    started_timestamp: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskInput {
    task_handle: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskOutput {
    approximate_number_of_messages_moved: u64,
}

/// Encodes a task handle: base64 of a JSON object with the task id and the
/// source ARN.
fn task_handle(task: &MoveTaskRecord) -> String {
    STANDARD.encode(json!({"taskId": task.task_id, "sourceArn": task.source_arn}).to_string())
}

fn task_id_of(handle: &str) -> Option<String> {
    let bytes = STANDARD.decode(handle).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("taskId")?.as_str().map(str::to_string)
}

fn entry(task: MoveTaskRecord) -> MoveTaskEntry {
    MoveTaskEntry {
        task_handle: (task.status == MoveTaskStatus::Running.as_str()).then(|| task_handle(&task)),
        status: task.status,
        source_arn: task.source_arn,
        destination_arn: task.destination_arn,
        max_number_of_messages_per_second: task.max_messages_per_second,
        approximate_number_of_messages_moved: task.moved,
        approximate_number_of_messages_to_move: task.to_move,
        failure_reason: task.failure_reason,
        started_timestamp: task.started_at,
    }
}

fn not_found(parameter: &str) -> SqsError {
    SqsError::new(
        ErrorKind::ResourceNotFoundException,
        format!("The resource that you specified for the {parameter} parameter doesn't exist."),
    )
}

fn task_error(error: MoveTaskError) -> SqsError {
    match error {
        MoveTaskError::AlreadyRunning(_) => SqsError::new(
            ErrorKind::InvalidParameterValue,
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        ),
        MoveTaskError::NotFound => not_found("TaskHandle"),
        MoveTaskError::NotRunning => {
            SqsError::new(ErrorKind::InvalidParameterValue, "Only a task in the RUNNING state can be cancelled.")
        }
        MoveTaskError::Engine(error) => error.into(),
    }
}

impl SqsService {
    async fn queue_by_arn(&self, arn: &str, parameter: &str) -> Result<Arc<QueueRecord>, SqsError> {
        let key = parse_queue_arn(arn).ok_or_else(|| not_found(parameter))?;
        self.engine.store().get_queue(&key).await.map_err(SqsError::internal)?.ok_or_else(|| not_found(parameter))
    }

    pub(crate) async fn start_message_move_task(
        &self,
        _context: &RequestContext,
        input: StartMessageMoveTaskInput,
    ) -> Result<StartMessageMoveTaskOutput, SqsError> {
        let source_arn = input.source_arn.ok_or_else(|| SqsError::missing_parameter("SourceArn"))?;
        let rate = crate::service::ranged(
            "MaxNumberOfMessagesPerSecond",
            input.max_number_of_messages_per_second,
            1,
            MAX_MESSAGES_PER_SECOND,
            "MaxNumberOfMessagesPerSecond must be between 1 and 500.",
        )?;
        let source = self.queue_by_arn(&source_arn, "SourceArn").await?;
        let peers = self.engine.list_queues(&source.key.account, &source.key.region, "", None, usize::MAX).await?;
        if !peers.iter().any(|peer| is_source_of(peer, &source_arn)) {
            return Err(SqsError::new(ErrorKind::InvalidParameterValue, "Source queue must be configured as a Dead Letter Queue."));
        }
        let destination = match &input.destination_arn {
            Some(arn) => Some(self.queue_by_arn(arn, "DestinationArn").await?),
            None => None,
        };
        if let Some(destination) = &destination {
            if destination.id == source.id {
                return Err(SqsError::invalid_parameter(
                    "DestinationArn",
                    input.destination_arn.as_deref().unwrap_or_default(),
                    "The destination cannot be the source queue.",
                ));
            }
            let fifo = postroom_queue::config::is_fifo;
            if fifo(&destination.attributes) != fifo(&source.attributes) {
                return Err(SqsError::invalid_parameter(
                    "DestinationArn",
                    input.destination_arn.as_deref().unwrap_or_default(),
                    "The destination queue must be of the same type as the source queue.",
                ));
            }
        }
        let start = StartMoveTask {
            source: QueueRecord::clone(&source),
            destination: destination.as_deref().cloned(),
            max_messages_per_second: rate.map(|r| r as u32),
        };
        let task = self.engine.start_move_task(start).await.map_err(task_error)?;
        Ok(StartMessageMoveTaskOutput { task_handle: task_handle(&task) })
    }

    pub(crate) async fn list_message_move_tasks(
        &self,
        _context: &RequestContext,
        input: ListMessageMoveTasksInput,
    ) -> Result<ListMessageMoveTasksOutput, SqsError> {
        let source_arn = input.source_arn.ok_or_else(|| SqsError::missing_parameter("SourceArn"))?;
        let max_results = crate::service::ranged("MaxResults", input.max_results, 1, 10, "MaxResults must be between 1 and 10.")?;
        self.queue_by_arn(&source_arn, "SourceArn").await?;
        let tasks = self.engine.list_move_tasks(&source_arn).await?;
        let limit = max_results.unwrap_or(1) as usize;
        Ok(ListMessageMoveTasksOutput { results: tasks.into_iter().take(limit).map(entry).collect() })
    }

    pub(crate) async fn cancel_message_move_task(
        &self,
        _context: &RequestContext,
        input: CancelMessageMoveTaskInput,
    ) -> Result<CancelMessageMoveTaskOutput, SqsError> {
        let handle = input.task_handle.ok_or_else(|| SqsError::missing_parameter("TaskHandle"))?;
        let task_id = task_id_of(&handle).ok_or_else(|| not_found("TaskHandle"))?;
        let task = self.engine.cancel_move_task(&task_id).await.map_err(task_error)?;
        Ok(CancelMessageMoveTaskOutput { approximate_number_of_messages_moved: task.moved })
    }
}
