//! Every operation of the SQS API.

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// An SQS operation, named as in the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SqsOperation {
            $($name,)*
        }

        impl SqsOperation {
            pub const ALL: &'static [SqsOperation] = &[$(SqsOperation::$name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(SqsOperation::$name => stringify!($name),)*
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(SqsOperation::$name),)*
                    _ => None,
                }
            }
        }
    };
}

operations!(
    AddPermission,
    CancelMessageMoveTask,
    ChangeMessageVisibility,
    ChangeMessageVisibilityBatch,
    CreateQueue,
    DeleteMessage,
    DeleteMessageBatch,
    DeleteQueue,
    GetQueueAttributes,
    GetQueueUrl,
    ListDeadLetterSourceQueues,
    ListMessageMoveTasks,
    ListQueueTags,
    ListQueues,
    PurgeQueue,
    ReceiveMessage,
    RemovePermission,
    SendMessage,
    SendMessageBatch,
    SetQueueAttributes,
    StartMessageMoveTask,
    TagQueue,
    UntagQueue,
);

impl SqsOperation {
    /// Returns whether the operation has an output shape. Query responses of
    /// such operations carry a `<NameResult>` element even when it is empty.
    pub fn has_output(self) -> bool {
        use SqsOperation::*;
        !matches!(
            self,
            AddPermission
                | ChangeMessageVisibility
                | DeleteMessage
                | DeleteQueue
                | PurgeQueue
                | RemovePermission
                | SetQueueAttributes
                | TagQueue
                | UntagQueue
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(SqsOperation::ALL.len(), 23);
        for operation in SqsOperation::ALL {
            assert_eq!(SqsOperation::from_name(operation.name()), Some(*operation));
        }
        assert_eq!(SqsOperation::from_name("Publish"), None);
    }
}
