//! The one error type of the EventBridge service.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InternalException,
    InvalidEventPatternException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    SerializationException,
    UnknownOperationException,
    UnsupportedOperationException,
    ValidationException,
}

impl ErrorKind {
    /// Returns the `__type` of the error in the JSON 1.1 protocol.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InternalException => "InternalException",
            ErrorKind::InvalidEventPatternException => "InvalidEventPatternException",
            ErrorKind::LimitExceededException => "LimitExceededException",
            ErrorKind::ResourceAlreadyExistsException => "ResourceAlreadyExistsException",
            ErrorKind::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorKind::SerializationException => "SerializationException",
            ErrorKind::UnknownOperationException => "UnknownOperationException",
            ErrorKind::UnsupportedOperationException => "UnsupportedOperationException",
            ErrorKind::ValidationException => "ValidationException",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InternalException => 500,
            _ => 400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EventsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ValidationException, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFoundException, message)
    }

    pub fn internal(error: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InternalException, format!("The server failed to process the request: {error}"))
    }
}

impl fmt::Display for EventsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for EventsError {}

impl From<postroom_store::StoreError> for EventsError {
    fn from(error: postroom_store::StoreError) -> Self {
        EventsError::internal(error)
    }
}
