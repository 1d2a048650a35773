//! [`EventsService`]: buses, rules, targets and tags.

use crate::error::{ErrorKind, EventsError};
use crate::model::*;
use crate::operation::EventsOperation;
use postroom_pattern::Pattern;
use postroom_queue::QueueEngine;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Account and region of a request.
#[derive(Clone, Debug)]
pub struct EventsContext {
    pub account: String,
    pub region: String,
}

/// The EventBridge API over the store and the queue engine.
pub struct EventsService {
    pub(crate) engine: Arc<QueueEngine>,
    /// Woken when a scheduled rule changes.
    pub(crate) schedules_changed: tokio::sync::Notify,
    /// Identity of this node as a lease holder.
    pub(crate) node_id: String,
    /// SNS, for targets that are topics.
    pub(crate) sns: Arc<postroom_sns::SnsService>,
}

pub(crate) fn text<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub(crate) fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, EventsError> {
    text(input, name).ok_or_else(|| EventsError::validation(format!("Parameter {name} must be specified.")))
}

fn seconds(millis: u64) -> Value {
    json!(millis as f64 / 1000.0)
}

fn tags_from(input: &Value) -> Result<std::collections::BTreeMap<String, String>, EventsError> {
    let mut tags = std::collections::BTreeMap::new();
    for tag in input.get("Tags").and_then(Value::as_array).into_iter().flatten() {
        let key = required(tag, "Key")?;
        if key.is_empty() || key.chars().count() > 128 {
            return Err(EventsError::validation("Tag keys must be 1 to 128 characters long."));
        }
        let value = text(tag, "Value").unwrap_or_default();
        if value.chars().count() > 256 {
            return Err(EventsError::validation("Tag values must be at most 256 characters long."));
        }
        tags.insert(key.to_string(), value.to_string());
    }
    Ok(tags)
}

fn tag_list(tags: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Array(tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}

fn page(limit: Option<&Value>, token: Option<&str>) -> Result<(usize, usize), EventsError> {
    let limit = match limit.and_then(Value::as_i64) {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => return Err(EventsError::validation(format!("Value {n} at 'limit' failed to satisfy constraint: Member must be between 1 and 100"))),
    };
    let start = match token {
        None => 0,
        Some(token) => token.parse().map_err(|_| EventsError::validation("The NextToken is not valid."))?,
    };
    Ok((start, limit))
}

impl EventsService {
    pub fn new(engine: Arc<QueueEngine>, sns: Arc<postroom_sns::SnsService>) -> Self {
        Self { engine, sns, schedules_changed: tokio::sync::Notify::new(), node_id: uuid::Uuid::new_v4().to_string() }
    }

    /// Runs one operation on a JSON 1.1 request document.
    pub async fn call(&self, operation: EventsOperation, context: &EventsContext, input: Value) -> Result<Value, EventsError> {
        use EventsOperation::*;
        match operation {
            CreateEventBus => self.create_event_bus(context, &input).await,
            DescribeEventBus => self.describe_event_bus(context, &input).await,
            ListEventBuses => self.list_event_buses(context, &input).await,
            DeleteEventBus => self.delete_event_bus(context, &input).await,
            PutRule => self.put_rule(context, &input).await,
            DescribeRule => self.describe_rule(context, &input).await,
            ListRules => self.list_rules(context, &input).await,
            DeleteRule => self.delete_rule(context, &input).await,
            EnableRule => self.set_rule_state(context, &input, "ENABLED").await,
            DisableRule => self.set_rule_state(context, &input, "DISABLED").await,
            PutTargets => self.put_targets(context, &input).await,
            RemoveTargets => self.remove_targets(context, &input).await,
            ListTargetsByRule => self.list_targets_by_rule(context, &input).await,
            ListRuleNamesByTarget => self.list_rule_names_by_target(context, &input).await,
            PutEvents => self.put_events(context, &input).await,
            TestEventPattern => crate::put_events::test_event_pattern(&input),
            TagResource => self.tag_resource(context, &input, true).await,
            UntagResource => self.tag_resource(context, &input, false).await,
            ListTagsForResource => self.list_tags_for_resource(context, &input).await,
            CreateArchive => self.create_archive(context, &input).await,
            DescribeArchive => self.describe_archive(context, &input).await,
            ListArchives => self.list_archives(context, &input).await,
            UpdateArchive => self.update_archive(context, &input).await,
            DeleteArchive => self.delete_archive(context, &input).await,
            StartReplay => self.start_replay(context, &input).await,
            DescribeReplay => self.describe_replay(context, &input).await,
            ListReplays => self.list_replays(context, &input).await,
            CancelReplay => self.cancel_replay(context, &input).await,
            // TODO: the API destination, connection, endpoint, partner and
            // permission operations.
            other => Err(EventsError::new(
                ErrorKind::UnsupportedOperationException,
                format!("The operation {} is not supported by this server yet.", other.name()),
            )),
        }
    }

    pub(crate) async fn load_bus(&self, context: &EventsContext, name: &str) -> Result<Option<Bus>, EventsError> {
        if name == DEFAULT_BUS {
            return Ok(Some(Bus {
                account: context.account.clone(),
                region: context.region.clone(),
                name: DEFAULT_BUS.to_string(),
                description: None,
                created_at: 0,
                modified_at: 0,
                tags: Default::default(),
            }));
        }
        let key = bus_key(&context.account, &context.region, name);
        let stored = self.engine.store().get_resource(BUS_KIND, &key).await?;
        stored.map(|bytes| serde_json::from_slice(&bytes).map_err(EventsError::internal)).transpose()
    }

    async fn require_bus(&self, context: &EventsContext, name: &str) -> Result<Bus, EventsError> {
        self.load_bus(context, name).await?.ok_or_else(|| EventsError::not_found(format!("Event bus {name} does not exist.")))
    }

    pub(crate) async fn load_rules(&self, context: &EventsContext, bus: &str) -> Result<Vec<Rule>, EventsError> {
        let prefix = rule_prefix(&context.account, &context.region, bus);
        let stored = self.engine.store().list_resources(RULE_KIND, &prefix).await?;
        stored.iter().map(|(_, bytes)| serde_json::from_slice(bytes).map_err(EventsError::internal)).collect()
    }

    async fn load_rule(&self, context: &EventsContext, bus: &str, name: &str) -> Result<Rule, EventsError> {
        let key = rule_key(&context.account, &context.region, bus, name);
        let stored = self.engine.store().get_resource(RULE_KIND, &key).await?;
        let bytes = stored.ok_or_else(|| EventsError::not_found(format!("Rule {name} does not exist on EventBus {bus}.")))?;
        serde_json::from_slice(&bytes).map_err(EventsError::internal)
    }

    pub(crate) async fn save_rule(&self, rule: &Rule) -> Result<(), EventsError> {
        let key = rule_key(&rule.account, &rule.region, &rule.bus, &rule.name);
        let bytes = serde_json::to_vec(rule).map_err(EventsError::internal)?;
        Ok(self.engine.store().put_resource(RULE_KIND, &key, bytes).await?)
    }

    async fn save_bus(&self, bus: &Bus) -> Result<(), EventsError> {
        let key = bus_key(&bus.account, &bus.region, &bus.name);
        let bytes = serde_json::to_vec(bus).map_err(EventsError::internal)?;
        Ok(self.engine.store().put_resource(BUS_KIND, &key, bytes).await?)
    }

    async fn create_event_bus(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = required(input, "Name")?;
        // Only partner event buses, which come from partner event sources,
        // have a `/` in their names.
        check_name("Name", name, 256, false)?;
        if name == DEFAULT_BUS || name.starts_with("aws.") {
            return Err(EventsError::validation(format!("Event bus name {name} is reserved.")));
        }
        let now = self.engine.clock().now();
        let bus = Bus {
            account: context.account.clone(),
            region: context.region.clone(),
            name: name.to_string(),
            description: text(input, "Description").map(str::to_string),
            created_at: now,
            modified_at: now,
            tags: tags_from(input)?,
        };
        let bytes = serde_json::to_vec(&bus).map_err(EventsError::internal)?;
        let key = bus_key(&context.account, &context.region, name);
        if !self.engine.store().create_resource(BUS_KIND, &key, bytes).await? {
            return Err(EventsError::new(ErrorKind::ResourceAlreadyExistsException, format!("Event bus {name} already exists.")));
        }
        let mut output = json!({"EventBusArn": bus.arn()});
        if let Some(description) = &bus.description {
            output["Description"] = json!(description);
        }
        Ok(output)
    }

    async fn describe_event_bus(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = bus_name(text(input, "Name"))?;
        let bus = self.require_bus(context, &name).await?;
        Ok(bus_json(&bus))
    }

    async fn list_event_buses(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let (start, limit) = page(input.get("Limit"), text(input, "NextToken"))?;
        let prefix = text(input, "NamePrefix").unwrap_or_default();
        let mut buses = Vec::new();
        if DEFAULT_BUS.starts_with(prefix) {
            buses.push(self.require_bus(context, DEFAULT_BUS).await?);
        }
        let key_prefix = format!("{}/{}/{prefix}", context.account, context.region);
        for (_, bytes) in self.engine.store().list_resources(BUS_KIND, &key_prefix).await? {
            buses.push(serde_json::from_slice(&bytes).map_err(EventsError::internal)?);
        }
        buses.sort_by(|a: &Bus, b: &Bus| a.name.cmp(&b.name));
        let next = (start + limit < buses.len()).then(|| (start + limit).to_string());
        let listed: Vec<Value> = buses.iter().skip(start).take(limit).map(bus_json).collect();
        let mut output = json!({"EventBuses": listed});
        if let Some(next) = next {
            output["NextToken"] = json!(next);
        }
        Ok(output)
    }

    async fn delete_event_bus(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = required(input, "Name")?;
        if name == DEFAULT_BUS {
            return Err(EventsError::validation("Cannot delete event bus default."));
        }
        // Deleting a bus that does not exist succeeds, as in EventBridge.
        for rule in self.load_rules(context, name).await? {
            let key = rule_key(&rule.account, &rule.region, &rule.bus, &rule.name);
            self.engine.store().delete_resource(RULE_KIND, &key).await?;
        }
        self.engine.store().delete_resource(BUS_KIND, &bus_key(&context.account, &context.region, name)).await?;
        Ok(json!({}))
    }

    async fn put_rule(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = required(input, "Name")?;
        check_name("Name", name, 64, false)?;
        let bus = bus_name(text(input, "EventBusName"))?;
        self.require_bus(context, &bus).await?;
        let pattern = text(input, "EventPattern");
        let schedule = text(input, "ScheduleExpression");
        if pattern.is_none() && schedule.is_none() {
            return Err(EventsError::validation("Parameter(s) EventPattern or ScheduleExpression must be specified."));
        }
        let now = self.engine.clock().now();
        let parsed_schedule = match schedule {
            Some(expression) => {
                let parsed = crate::schedule::Schedule::parse(expression)
                    .ok_or_else(|| EventsError::validation("Parameter ScheduleExpression is not valid."))?;
                if bus != DEFAULT_BUS {
                    return Err(EventsError::validation("ScheduleExpression is supported only on the default event bus."));
                }
                Some(parsed)
            }
            None => None,
        };
        if let Some(pattern) = pattern {
            if pattern.chars().count() > 4096 {
                return Err(EventsError::validation(
                    "1 validation error detected: Value at 'eventPattern' failed to satisfy constraint: Member must have length less than or equal to 4096",
                ));
            }
            Pattern::event_pattern(pattern)
                .map_err(|error| EventsError::new(ErrorKind::InvalidEventPatternException, error.message))?;
        }
        let state = text(input, "State").unwrap_or("ENABLED");
        if !matches!(state, "ENABLED" | "DISABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") {
            return Err(EventsError::validation(format!("Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]")));
        }
        let key = rule_key(&context.account, &context.region, &bus, name);
        let existing: Option<Rule> = match self.engine.store().get_resource(RULE_KIND, &key).await? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(EventsError::internal)?),
            None => None,
        };
        let created_at = existing.as_ref().map_or(now, |rule| if rule.created_at == 0 { now } else { rule.created_at });
        let next_fire_at = parsed_schedule.as_ref().and_then(|parsed| parsed.next_after(now, created_at));
        let mut tags = existing.as_ref().map(|rule| rule.tags.clone()).unwrap_or_default();
        tags.extend(tags_from(input)?);
        let rule = Rule {
            account: context.account.clone(),
            region: context.region.clone(),
            bus,
            name: name.to_string(),
            event_pattern: pattern.map(str::to_string),
            state: state.to_string(),
            description: text(input, "Description").map(str::to_string),
            role_arn: text(input, "RoleArn").map(str::to_string),
            tags,
            targets: existing.map(|rule| rule.targets).unwrap_or_default(),
            schedule_expression: schedule.map(str::to_string),
            created_at,
            next_fire_at,
        };
        self.save_rule(&rule).await?;
        if rule.schedule_expression.is_some() {
            self.schedules_changed.notify_waiters();
        }
        Ok(json!({"RuleArn": rule.arn()}))
    }

    async fn describe_rule(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let rule = self.load_rule(context, &bus, required(input, "Name")?).await?;
        Ok(rule_json(&rule))
    }

    async fn list_rules(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        self.require_bus(context, &bus).await?;
        let (start, limit) = page(input.get("Limit"), text(input, "NextToken"))?;
        let prefix = text(input, "NamePrefix").unwrap_or_default();
        let rules: Vec<Rule> = self.load_rules(context, &bus).await?.into_iter().filter(|r| r.name.starts_with(prefix)).collect();
        let next = (start + limit < rules.len()).then(|| (start + limit).to_string());
        let listed: Vec<Value> = rules.iter().skip(start).take(limit).map(rule_json).collect();
        let mut output = json!({"Rules": listed});
        if let Some(next) = next {
            output["NextToken"] = json!(next);
        }
        Ok(output)
    }

    async fn delete_rule(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let name = required(input, "Name")?;
        let key = rule_key(&context.account, &context.region, &bus, name);
        let Some(bytes) = self.engine.store().get_resource(RULE_KIND, &key).await? else {
            // Deleting a rule that does not exist succeeds.
            return Ok(json!({}));
        };
        let rule: Rule = serde_json::from_slice(&bytes).map_err(EventsError::internal)?;
        let force = input.get("Force").and_then(Value::as_bool).unwrap_or(false);
        if !rule.targets.is_empty() && !force {
            return Err(EventsError::validation("Rule can't be deleted since it has targets."));
        }
        self.engine.store().delete_resource(RULE_KIND, &key).await?;
        Ok(json!({}))
    }

    async fn set_rule_state(&self, context: &EventsContext, input: &Value, state: &str) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let mut rule = self.load_rule(context, &bus, required(input, "Name")?).await?;
        rule.state = state.to_string();
        self.save_rule(&rule).await?;
        Ok(json!({}))
    }

    async fn put_targets(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let mut rule = self.load_rule(context, &bus, required(input, "Rule")?).await?;
        let targets = input.get("Targets").and_then(Value::as_array).filter(|t| !t.is_empty() && t.len() <= 100).ok_or_else(|| {
            EventsError::validation("Parameter Targets must contain 1 to 100 targets.")
        })?;
        for target in targets {
            crate::targets::validate(target)?;
        }
        let mut merged = rule.targets.clone();
        for target in targets {
            let id = required(target, "Id")?;
            match merged.iter_mut().find(|existing| text(existing, "Id") == Some(id)) {
                Some(existing) => *existing = target.clone(),
                None => merged.push(target.clone()),
            }
        }
        if merged.len() > MAX_TARGETS_PER_RULE {
            return Err(EventsError::new(
                ErrorKind::LimitExceededException,
                format!("The requested resource exceeds the maximum number allowed: a rule can have at most {MAX_TARGETS_PER_RULE} targets."),
            ));
        }
        rule.targets = merged;
        self.save_rule(&rule).await?;
        Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
    }

    async fn remove_targets(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let mut rule = self.load_rule(context, &bus, required(input, "Rule")?).await?;
        let ids: Vec<&str> = input.get("Ids").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if ids.is_empty() || ids.len() > 100 {
            return Err(EventsError::validation("Parameter Ids must contain 1 to 100 target ids."));
        }
        let mut failed = Vec::new();
        for id in &ids {
            if !rule.targets.iter().any(|target| text(target, "Id") == Some(*id)) {
                failed.push(json!({"TargetId": id, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": format!("Target {id} does not exist on rule {}.", rule.name)}));
            }
        }
        rule.targets.retain(|target| !text(target, "Id").is_some_and(|id| ids.contains(&id)));
        self.save_rule(&rule).await?;
        Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
    }

    async fn list_targets_by_rule(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let bus = bus_name(text(input, "EventBusName"))?;
        let rule = self.load_rule(context, &bus, required(input, "Rule")?).await?;
        let (start, limit) = page(input.get("Limit"), text(input, "NextToken"))?;
        let next = (start + limit < rule.targets.len()).then(|| (start + limit).to_string());
        let listed: Vec<Value> = rule.targets.iter().skip(start).take(limit).cloned().collect();
        let mut output = json!({"Targets": listed});
        if let Some(next) = next {
            output["NextToken"] = json!(next);
        }
        Ok(output)
    }

    async fn list_rule_names_by_target(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let target_arn = required(input, "TargetArn")?;
        let bus = bus_name(text(input, "EventBusName"))?;
        let (start, limit) = page(input.get("Limit"), text(input, "NextToken"))?;
        let names: Vec<String> = self
            .load_rules(context, &bus)
            .await?
            .into_iter()
            .filter(|rule| rule.targets.iter().any(|target| text(target, "Arn") == Some(target_arn)))
            .map(|rule| rule.name)
            .collect();
        let next = (start + limit < names.len()).then(|| (start + limit).to_string());
        let listed: Vec<&String> = names.iter().skip(start).take(limit).collect();
        let mut output = json!({"RuleNames": listed});
        if let Some(next) = next {
            output["NextToken"] = json!(next);
        }
        Ok(output)
    }

    /// Finds the bus or rule an ARN names.
    async fn resource_by_arn(&self, context: &EventsContext, arn: &str) -> Result<Resource, EventsError> {
        let not_found = || EventsError::not_found(format!("Resource {arn} does not exist."));
        let rest = arn.strip_prefix(&format!("arn:aws:events:{}:{}:", context.region, context.account)).ok_or_else(not_found)?;
        if let Some(name) = rest.strip_prefix("event-bus/") {
            if name == DEFAULT_BUS {
                return Err(EventsError::validation("The default event bus cannot be tagged by this server."));
            }
            return self.load_bus(context, name).await?.map(Resource::Bus).ok_or_else(not_found);
        }
        let path = rest.strip_prefix("rule/").ok_or_else(not_found)?;
        let (bus, name) = path.rsplit_once('/').unwrap_or((DEFAULT_BUS, path));
        self.load_rule(context, bus, name).await.map(Resource::Rule).map_err(|_| not_found())
    }

    async fn tag_resource(&self, context: &EventsContext, input: &Value, add: bool) -> Result<Value, EventsError> {
        let arn = required(input, "ResourceARN")?;
        let resource = self.resource_by_arn(context, arn).await?;
        let apply = |tags: &mut std::collections::BTreeMap<String, String>| -> Result<(), EventsError> {
            if add {
                tags.extend(tags_from(input)?);
            } else {
                for key in input.get("TagKeys").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    tags.remove(key);
                }
            }
            Ok(())
        };
        match resource {
            Resource::Bus(mut bus) => {
                apply(&mut bus.tags)?;
                self.save_bus(&bus).await?;
            }
            Resource::Rule(mut rule) => {
                apply(&mut rule.tags)?;
                self.save_rule(&rule).await?;
            }
        }
        Ok(json!({}))
    }

    async fn list_tags_for_resource(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let arn = required(input, "ResourceARN")?;
        let tags = match self.resource_by_arn(context, arn).await? {
            Resource::Bus(bus) => bus.tags,
            Resource::Rule(rule) => rule.tags,
        };
        Ok(json!({"Tags": tag_list(&tags)}))
    }
}

enum Resource {
    Bus(Bus),
    Rule(Rule),
}

fn bus_json(bus: &Bus) -> Value {
    let mut output = Map::new();
    output.insert("Name".into(), json!(bus.name));
    output.insert("Arn".into(), json!(bus.arn()));
    if let Some(description) = &bus.description {
        output.insert("Description".into(), json!(description));
    }
    if bus.name != DEFAULT_BUS {
        output.insert("CreationTime".into(), seconds(bus.created_at));
        output.insert("LastModifiedTime".into(), seconds(bus.modified_at));
    }
    Value::Object(output)
}

fn rule_json(rule: &Rule) -> Value {
    let mut output = Map::new();
    output.insert("Name".into(), json!(rule.name));
    output.insert("Arn".into(), json!(rule.arn()));
    if let Some(pattern) = &rule.event_pattern {
        output.insert("EventPattern".into(), json!(pattern));
    }
    if let Some(schedule) = &rule.schedule_expression {
        output.insert("ScheduleExpression".into(), json!(schedule));
    }
    output.insert("State".into(), json!(rule.state));
    if let Some(description) = &rule.description {
        output.insert("Description".into(), json!(description));
    }
    if let Some(role) = &rule.role_arn {
        output.insert("RoleArn".into(), json!(role));
    }
    output.insert("EventBusName".into(), json!(rule.bus));
    output.insert("CreatedBy".into(), json!(rule.account));
    Value::Object(output)
}
