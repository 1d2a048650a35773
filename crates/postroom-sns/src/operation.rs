//! Every operation of the SNS API.

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// An SNS operation, named as in the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SnsOperation {
            $($name,)*
        }

        impl SnsOperation {
            pub const ALL: &'static [SnsOperation] = &[$(SnsOperation::$name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(SnsOperation::$name => stringify!($name),)*
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(SnsOperation::$name),)*
                    _ => None,
                }
            }
        }
    };
}

operations!(
    AddPermission,
    CheckIfPhoneNumberIsOptedOut,
    ConfirmSubscription,
    CreatePlatformApplication,
    CreatePlatformEndpoint,
    CreateSMSSandboxPhoneNumber,
    CreateTopic,
    DeleteEndpoint,
    DeletePlatformApplication,
    DeleteSMSSandboxPhoneNumber,
    DeleteTopic,
    GetDataProtectionPolicy,
    GetEndpointAttributes,
    GetPlatformApplicationAttributes,
    GetSMSAttributes,
    GetSMSSandboxAccountStatus,
    GetSubscriptionAttributes,
    GetTopicAttributes,
    ListEndpointsByPlatformApplication,
    ListOriginationNumbers,
    ListPhoneNumbersOptedOut,
    ListPlatformApplications,
    ListSMSSandboxPhoneNumbers,
    ListSubscriptions,
    ListSubscriptionsByTopic,
    ListTagsForResource,
    ListTopics,
    OptInPhoneNumber,
    Publish,
    PublishBatch,
    PutDataProtectionPolicy,
    RemovePermission,
    SetEndpointAttributes,
    SetPlatformApplicationAttributes,
    SetSMSAttributes,
    SetSubscriptionAttributes,
    SetTopicAttributes,
    Subscribe,
    TagResource,
    Unsubscribe,
    UntagResource,
    VerifySMSSandboxPhoneNumber,
);

impl SnsOperation {
    /// Returns whether the operation has an output shape, so that its Query
    /// response carries a result element even when empty.
    pub fn has_output(self) -> bool {
        use SnsOperation::*;
        !matches!(
            self,
            AddPermission
                | DeleteTopic
                | RemovePermission
                | SetSubscriptionAttributes
                | SetTopicAttributes
                | Unsubscribe
                | DeleteEndpoint
                | DeletePlatformApplication
                | SetEndpointAttributes
                | SetPlatformApplicationAttributes
                | PutDataProtectionPolicy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(SnsOperation::ALL.len(), 42);
        for operation in SnsOperation::ALL {
            assert_eq!(SnsOperation::from_name(operation.name()), Some(*operation));
        }
    }
}
