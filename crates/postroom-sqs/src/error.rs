//! The one error type of the SQS service.

use std::fmt;

/// The kind of an SQS error, which fixes its codes and HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InternalError,
    InvalidAction,
    InvalidAddress,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MessageNotInflight,
    MissingParameter,
    OverLimit,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    ResourceNotFoundException,
    SerializationException,
    ServiceUnavailable,
    TooManyEntriesInBatchRequest,
    UnknownOperation,
    UnsupportedOperation,
}

impl ErrorKind {
    /// Returns the code of the Query protocol, which the JSON protocol also sends in
    /// the `x-amzn-query-error` header and SDKs show to users.
    pub fn query_code(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            InternalError => "InternalError",
            InvalidAction | UnknownOperation => "InvalidAction",
            InvalidAddress => "InvalidAddress",
            InvalidAttributeName => "InvalidAttributeName",
            InvalidAttributeValue => "InvalidAttributeValue",
            InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            InvalidMessageContents => "InvalidMessageContents",
            InvalidParameterValue => "InvalidParameterValue",
            MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            MissingParameter => "MissingParameter",
            OverLimit => "OverLimit",
            PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            QueueNameExists => "QueueAlreadyExists",
            ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            ResourceNotFoundException => "ResourceNotFoundException",
            SerializationException => "SerializationException",
            ServiceUnavailable => "ServiceUnavailable",
            TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            UnsupportedOperation => "AWS.SimpleQueueService.UnsupportedOperation",
        }
    }

    /// Returns the `__type` of the JSON protocol: the error shape of the SQS model,
    /// or a common error for kinds the model does not declare.
    pub fn json_type(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BatchEntryIdsNotDistinct => "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "com.amazonaws.sqs#BatchRequestTooLong",
            EmptyBatchRequest => "com.amazonaws.sqs#EmptyBatchRequest",
            InternalError => "com.amazonaws.sqs#InternalError",
            InvalidAction => "com.amazonaws.sqs#InvalidAction",
            InvalidAddress => "com.amazonaws.sqs#InvalidAddress",
            InvalidAttributeName => "com.amazonaws.sqs#InvalidAttributeName",
            InvalidAttributeValue => "com.amazonaws.sqs#InvalidAttributeValue",
            InvalidBatchEntryId => "com.amazonaws.sqs#InvalidBatchEntryId",
            InvalidMessageContents => "com.amazonaws.sqs#InvalidMessageContents",
            InvalidParameterValue => "com.amazonaws.sqs#InvalidParameterValue",
            MessageNotInflight => "com.amazonaws.sqs#MessageNotInflight",
            MissingParameter => "com.amazonaws.sqs#MissingParameter",
            OverLimit => "com.amazonaws.sqs#OverLimit",
            PurgeQueueInProgress => "com.amazonaws.sqs#PurgeQueueInProgress",
            QueueDeletedRecently => "com.amazonaws.sqs#QueueDeletedRecently",
            QueueDoesNotExist => "com.amazonaws.sqs#QueueDoesNotExist",
            QueueNameExists => "com.amazonaws.sqs#QueueNameExists",
            ReceiptHandleIsInvalid => "com.amazonaws.sqs#ReceiptHandleIsInvalid",
            ResourceNotFoundException => "com.amazonaws.sqs#ResourceNotFoundException",
            SerializationException => "com.amazon.coral.service#SerializationException",
            ServiceUnavailable => "com.amazonaws.sqs#ServiceUnavailable",
            TooManyEntriesInBatchRequest => "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
            UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            UnsupportedOperation => "com.amazonaws.sqs#UnsupportedOperation",
        }
    }

    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            InternalError => 500,
            ServiceUnavailable => 503,
            InvalidAddress | ReceiptHandleIsInvalid | ResourceNotFoundException => 404,
            OverLimit | PurgeQueueInProgress => 403,
            _ => 400,
        }
    }

    /// Returns whether the client caused the error (`Sender`) or the server did
    /// (`Receiver`).
    pub fn is_sender_fault(self) -> bool {
        !matches!(self, ErrorKind::InternalError | ErrorKind::ServiceUnavailable)
    }
}

/// An SQS error with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SqsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn queue_does_not_exist() -> Self {
        Self::new(ErrorKind::QueueDoesNotExist, "The specified queue does not exist.")
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(ErrorKind::MissingParameter, format!("The request must contain the parameter {name}."))
    }

    /// `Value <value> for parameter <name> is invalid. Reason: <reason>`, the
    /// form SQS uses for out-of-range parameters.
    pub fn invalid_parameter(name: &str, value: impl fmt::Display, reason: &str) -> Self {
        Self::new(
            ErrorKind::InvalidParameterValue,
            format!("Value {value} for parameter {name} is invalid. Reason: {reason}"),
        )
    }

    pub fn internal(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InternalError, format!("The server failed to process the request: {error}"))
    }
}

impl fmt::Display for SqsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind.query_code(), self.message)
    }
}

impl std::error::Error for SqsError {}

impl From<postroom_queue::EngineError> for SqsError {
    fn from(error: postroom_queue::EngineError) -> Self {
        use postroom_queue::EngineError;
        match error {
            EngineError::QueueNotFound => SqsError::queue_does_not_exist(),
            EngineError::DeletedRecently => SqsError::new(
                ErrorKind::QueueDeletedRecently,
                "You must wait 60 seconds after deleting a queue before you can create another queue with the same name.",
            ),
            EngineError::PurgeInProgress => SqsError::new(
                ErrorKind::PurgeQueueInProgress,
                "Only one PurgeQueue operation on a queue is allowed every 60 seconds.",
            ),
            EngineError::Store(error @ postroom_store::StoreError::Unavailable(_)) => SqsError::new(
                ErrorKind::ServiceUnavailable,
                format!("The service is unavailable; retry the request. Cause: {error}"),
            ),
            EngineError::Store(error) => SqsError::internal(error),
        }
    }
}
