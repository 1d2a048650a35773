//! Every operation of the EventBridge API.

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// An EventBridge operation, named as in the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventsOperation {
            $($name,)*
        }

        impl EventsOperation {
            pub const ALL: &'static [EventsOperation] = &[$(EventsOperation::$name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(EventsOperation::$name => stringify!($name),)*
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(EventsOperation::$name),)*
                    _ => None,
                }
            }
        }
    };
}

operations!(
    ActivateEventSource,
    CancelReplay,
    CreateApiDestination,
    CreateArchive,
    CreateConnection,
    CreateEndpoint,
    CreateEventBus,
    CreatePartnerEventSource,
    DeactivateEventSource,
    DeauthorizeConnection,
    DeleteApiDestination,
    DeleteArchive,
    DeleteConnection,
    DeleteEndpoint,
    DeleteEventBus,
    DeletePartnerEventSource,
    DeleteRule,
    DescribeApiDestination,
    DescribeArchive,
    DescribeConnection,
    DescribeEndpoint,
    DescribeEventBus,
    DescribeEventSource,
    DescribePartnerEventSource,
    DescribeReplay,
    DescribeRule,
    DisableRule,
    EnableRule,
    ListApiDestinations,
    ListArchives,
    ListConnections,
    ListEndpoints,
    ListEventBuses,
    ListEventSources,
    ListPartnerEventSourceAccounts,
    ListPartnerEventSources,
    ListReplays,
    ListRuleNamesByTarget,
    ListRules,
    ListTagsForResource,
    ListTargetsByRule,
    PutEvents,
    PutPartnerEvents,
    PutPermission,
    PutRule,
    PutTargets,
    RemovePermission,
    RemoveTargets,
    StartReplay,
    TagResource,
    TestEventPattern,
    UntagResource,
    UpdateApiDestination,
    UpdateArchive,
    UpdateConnection,
    UpdateEndpoint,
    UpdateEventBus,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(EventsOperation::ALL.len(), 57);
        for operation in EventsOperation::ALL {
            assert_eq!(EventsOperation::from_name(operation.name()), Some(*operation));
        }
    }
}
