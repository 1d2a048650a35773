//! The one error type of the SNS service.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    AuthorizationError,
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InternalError,
    InvalidAction,
    InvalidBatchEntryId,
    InvalidParameter,
    InvalidParameterValue,
    NotFound,
    TooManyEntriesInBatchRequest,
}

impl ErrorKind {
    /// Returns the error code of the Query protocol.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::AuthorizationError => "AuthorizationError",
            ErrorKind::BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            ErrorKind::EmptyBatchRequest => "EmptyBatchRequest",
            ErrorKind::InternalError => "InternalError",
            ErrorKind::InvalidAction => "InvalidAction",
            ErrorKind::InvalidBatchEntryId => "InvalidBatchEntryId",
            ErrorKind::InvalidParameter => "InvalidParameter",
            ErrorKind::InvalidParameterValue => "ParameterValueInvalid",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::AuthorizationError => 403,
            ErrorKind::InternalError => 500,
            ErrorKind::NotFound => 404,
            _ => 400,
        }
    }

    pub fn is_sender_fault(self) -> bool {
        self != ErrorKind::InternalError
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SnsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// `Invalid parameter: <detail>`, the form SNS uses for bad input.
    pub fn invalid(detail: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidParameter, format!("Invalid parameter: {detail}"))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InternalError, format!("The server failed to process the request: {error}"))
    }
}

impl fmt::Display for SnsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for SnsError {}

impl From<postroom_store::StoreError> for SnsError {
    fn from(error: postroom_store::StoreError) -> Self {
        SnsError::internal(error)
    }
}
