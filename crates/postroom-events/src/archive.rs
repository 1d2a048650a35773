//! Archives of the events put on a bus, and replays of them.
//!
//! An archive keeps each event that reaches its bus and matches its
//! pattern, keyed by the event's time so a replay reads a time window in
//! order. A replay puts the archived events of its window back on the bus,
//! to all rules or only those in `FilterArns`, with a `replay-name` field.
//! The scheduler, which runs on one node at a time, carries replays out, so
//! a replay in progress resumes after a restart.

use crate::error::{ErrorKind, EventsError};
use crate::model::{bus_name, Rule};
use crate::service::{required, text, EventsContext, EventsService};
use postroom_pattern::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const ARCHIVE_KIND: &str = "events/archive";
const ARCHIVED_EVENT_KIND: &str = "events/archived-event";
const REPLAY_KIND: &str = "events/replay";
const DAY_MS: u64 = 86_400_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Archive {
    account: String,
    region: String,
    name: String,
    bus: String,
    description: Option<String>,
    event_pattern: Option<String>,
    /// 0 keeps events forever.
    retention_days: u64,
    created_at: u64,
}

impl Archive {
    fn arn(&self) -> String {
        format!("arn:aws:events:{}:{}:archive/{}", self.region, self.account, self.name)
    }

    fn key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }

    fn bus_arn(&self) -> String {
        crate::model::bus_arn(&self.account, &self.region, &self.bus)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Replay {
    account: String,
    region: String,
    name: String,
    description: Option<String>,
    archive: String,
    /// Window of event times, in milliseconds.
    start: u64,
    end: u64,
    destination_bus: String,
    filter_arns: Vec<String>,
    state: String,
    state_reason: Option<String>,
    started_at: u64,
    ended_at: Option<u64>,
    last_replayed: Option<u64>,
}

impl Replay {
    fn arn(&self) -> String {
        format!("arn:aws:events:{}:{}:replay/{}", self.region, self.account, self.name)
    }

    fn key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }
}

fn seconds(millis: u64) -> Value {
    json!(millis as f64 / 1000.0)
}

fn check_archive_name(name: &str) -> Result<(), EventsError> {
    let valid = !name.is_empty() && name.len() <= 48 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(EventsError::validation(format!("Value '{name}' at 'archiveName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length at most 48")))
    }
}

fn check_pattern(pattern: Option<&str>) -> Result<(), EventsError> {
    if let Some(pattern) = pattern {
        Pattern::event_pattern(pattern).map_err(|error| EventsError::new(ErrorKind::InvalidEventPatternException, error.message))?;
    }
    Ok(())
}

fn retention(input: &Value) -> Result<Option<u64>, EventsError> {
    match input.get("RetentionDays") {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| EventsError::validation("RetentionDays must be a non-negative integer.")),
    }
}

impl EventsService {
    async fn load<T: serde::de::DeserializeOwned>(&self, kind: &str, key: &str) -> Result<Option<T>, EventsError> {
        match self.engine.store().get_resource(kind, key).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(EventsError::internal),
            None => Ok(None),
        }
    }

    async fn save<T: Serialize>(&self, kind: &str, key: &str, value: &T) -> Result<(), EventsError> {
        let bytes = serde_json::to_vec(value).map_err(EventsError::internal)?;
        Ok(self.engine.store().put_resource(kind, key, bytes).await?)
    }

    async fn load_archive(&self, context: &EventsContext, name: &str) -> Result<Archive, EventsError> {
        let key = format!("{}/{}/{name}", context.account, context.region);
        self.load(ARCHIVE_KIND, &key).await?.ok_or_else(|| EventsError::not_found(format!("Archive {name} does not exist.")))
    }

    /// Archives an event put on `bus` in every archive of that bus whose
    /// pattern it matches.
    pub(crate) async fn archive_event(&self, context: &EventsContext, bus: &str, event: &Value, time: u64) -> Result<(), EventsError> {
        let prefix = format!("{}/{}/", context.account, context.region);
        for (_, bytes) in self.engine.store().list_resources(ARCHIVE_KIND, &prefix).await? {
            let Ok(archive) = serde_json::from_slice::<Archive>(&bytes) else { continue };
            if archive.bus != bus {
                continue;
            }
            let matches = archive.event_pattern.as_deref().is_none_or(|pattern| {
                Pattern::event_pattern(pattern).is_ok_and(|compiled| compiled.matches_json(event))
            });
            if matches {
                let key = format!("{}|{time:020}|{}", archive.key(), event["id"].as_str().unwrap_or_default());
                self.engine.store().put_resource(ARCHIVED_EVENT_KIND, &key, event.to_string().into_bytes()).await?;
            }
        }
        Ok(())
    }

    async fn archived_events(&self, archive: &Archive, now: u64) -> Result<Vec<(u64, Value)>, EventsError> {
        let cutoff = if archive.retention_days == 0 { 0 } else { now.saturating_sub(archive.retention_days * DAY_MS) };
        let stored = self.engine.store().list_resources(ARCHIVED_EVENT_KIND, &format!("{}|", archive.key())).await?;
        let mut events = Vec::new();
        for (key, bytes) in stored {
            let time: u64 = key.split('|').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
            if time < cutoff {
                // Past the retention period: drop it now.
                self.engine.store().delete_resource(ARCHIVED_EVENT_KIND, &key).await?;
                continue;
            }
            if let Ok(event) = serde_json::from_slice(&bytes) {
                events.push((time, event));
            }
        }
        Ok(events)
    }

    pub(crate) async fn create_archive(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = required(input, "ArchiveName")?;
        check_archive_name(name)?;
        let source = required(input, "EventSourceArn")?;
        let bus = bus_name(Some(source))?;
        if self.load_bus(context, &bus).await?.is_none() {
            return Err(EventsError::not_found(format!("Event bus {bus} does not exist.")));
        }
        check_pattern(text(input, "EventPattern"))?;
        let archive = Archive {
            account: context.account.clone(),
            region: context.region.clone(),
            name: name.to_string(),
            bus,
            description: text(input, "Description").map(str::to_string),
            event_pattern: text(input, "EventPattern").map(str::to_string),
            retention_days: retention(input)?.unwrap_or(0),
            created_at: self.engine.clock().now(),
        };
        let bytes = serde_json::to_vec(&archive).map_err(EventsError::internal)?;
        if !self.engine.store().create_resource(ARCHIVE_KIND, &archive.key(), bytes).await? {
            return Err(EventsError::new(ErrorKind::ResourceAlreadyExistsException, format!("Archive {name} already exists.")));
        }
        Ok(json!({"ArchiveArn": archive.arn(), "State": "ENABLED", "CreationTime": seconds(archive.created_at)}))
    }

    pub(crate) async fn describe_archive(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let archive = self.load_archive(context, required(input, "ArchiveName")?).await?;
        let events = self.archived_events(&archive, self.engine.clock().now()).await?;
        let size: usize = events.iter().map(|(_, event)| event.to_string().len()).sum();
        let mut output = json!({
            "ArchiveArn": archive.arn(),
            "ArchiveName": archive.name,
            "EventSourceArn": archive.bus_arn(),
            "State": "ENABLED",
            "RetentionDays": archive.retention_days,
            "SizeBytes": size,
            "EventCount": events.len(),
            "CreationTime": seconds(archive.created_at),
        });
        if let Some(description) = &archive.description {
            output["Description"] = json!(description);
        }
        if let Some(pattern) = &archive.event_pattern {
            output["EventPattern"] = json!(pattern);
        }
        Ok(output)
    }

    pub(crate) async fn list_archives(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let prefix = text(input, "NamePrefix").unwrap_or_default();
        let source = text(input, "EventSourceArn");
        let mut archives = Vec::new();
        let key_prefix = format!("{}/{}/{prefix}", context.account, context.region);
        for (_, bytes) in self.engine.store().list_resources(ARCHIVE_KIND, &key_prefix).await? {
            let Ok(archive) = serde_json::from_slice::<Archive>(&bytes) else { continue };
            if source.is_some_and(|arn| arn != archive.bus_arn()) {
                continue;
            }
            let count = self.archived_events(&archive, self.engine.clock().now()).await?.len();
            archives.push(json!({
                "ArchiveName": archive.name,
                "EventSourceArn": archive.bus_arn(),
                "State": "ENABLED",
                "RetentionDays": archive.retention_days,
                "EventCount": count,
                "CreationTime": seconds(archive.created_at),
            }));
        }
        Ok(json!({"Archives": archives}))
    }

    pub(crate) async fn update_archive(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let mut archive = self.load_archive(context, required(input, "ArchiveName")?).await?;
        if let Some(description) = text(input, "Description") {
            archive.description = Some(description.to_string());
        }
        if let Some(pattern) = text(input, "EventPattern") {
            check_pattern(Some(pattern))?;
            archive.event_pattern = Some(pattern.to_string());
        }
        if let Some(days) = retention(input)? {
            archive.retention_days = days;
        }
        self.save(ARCHIVE_KIND, &archive.key(), &archive).await?;
        Ok(json!({"ArchiveArn": archive.arn(), "State": "ENABLED", "CreationTime": seconds(archive.created_at)}))
    }

    pub(crate) async fn delete_archive(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let archive = self.load_archive(context, required(input, "ArchiveName")?).await?;
        for (key, _) in self.engine.store().list_resources(ARCHIVED_EVENT_KIND, &format!("{}|", archive.key())).await? {
            self.engine.store().delete_resource(ARCHIVED_EVENT_KIND, &key).await?;
        }
        self.engine.store().delete_resource(ARCHIVE_KIND, &archive.key()).await?;
        Ok(json!({}))
    }

    pub(crate) async fn start_replay(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let name = required(input, "ReplayName")?;
        check_archive_name(name)?;
        let source = required(input, "EventSourceArn")?;
        let archive_name = source.rsplit_once(":archive/").map(|(_, name)| name).ok_or_else(|| EventsError::validation("Parameter EventSourceArn is not an archive ARN."))?;
        let archive = self.load_archive(context, archive_name).await?;
        let time = |field: &str| -> Result<u64, EventsError> {
            input.get(field).and_then(Value::as_f64).map(|s| (s * 1000.0) as u64).ok_or_else(|| EventsError::validation(format!("Parameter {field} must be specified.")))
        };
        let (start, end) = (time("EventStartTime")?, time("EventEndTime")?);
        if start >= end {
            return Err(EventsError::validation("EventStartTime must be before EventEndTime."));
        }
        let destination = input.get("Destination").ok_or_else(|| EventsError::validation("Parameter Destination must be specified."))?;
        let destination_bus = bus_name(text(destination, "Arn"))?;
        if destination_bus != archive.bus {
            return Err(EventsError::validation("The destination of a replay must be the event bus of its archive."));
        }
        let filter_arns: Vec<String> = destination.get("FilterArns").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        let now = self.engine.clock().now();
        let replay = Replay {
            account: context.account.clone(),
            region: context.region.clone(),
            name: name.to_string(),
            description: text(input, "Description").map(str::to_string),
            archive: archive.name.clone(),
            start,
            end,
            destination_bus,
            filter_arns,
            state: "STARTING".into(),
            state_reason: None,
            started_at: now,
            ended_at: None,
            last_replayed: None,
        };
        let bytes = serde_json::to_vec(&replay).map_err(EventsError::internal)?;
        if !self.engine.store().create_resource(REPLAY_KIND, &replay.key(), bytes).await? {
            return Err(EventsError::new(ErrorKind::ResourceAlreadyExistsException, format!("Replay {name} already exists.")));
        }
        self.schedules_changed.notify_waiters();
        Ok(json!({"ReplayArn": replay.arn(), "State": "STARTING", "ReplayStartTime": seconds(now)}))
    }

    async fn load_replay(&self, context: &EventsContext, name: &str) -> Result<Replay, EventsError> {
        let key = format!("{}/{}/{name}", context.account, context.region);
        self.load(REPLAY_KIND, &key).await?.ok_or_else(|| EventsError::not_found(format!("Replay {name} does not exist.")))
    }

    fn replay_json(&self, replay: &Replay) -> Value {
        let mut output = json!({
            "ReplayName": replay.name,
            "ReplayArn": replay.arn(),
            "State": replay.state,
            "EventSourceArn": format!("arn:aws:events:{}:{}:archive/{}", replay.region, replay.account, replay.archive),
            "Destination": {"Arn": crate::model::bus_arn(&replay.account, &replay.region, &replay.destination_bus), "FilterArns": replay.filter_arns},
            "EventStartTime": seconds(replay.start),
            "EventEndTime": seconds(replay.end),
            "ReplayStartTime": seconds(replay.started_at),
        });
        if let Some(ended) = replay.ended_at {
            output["ReplayEndTime"] = seconds(ended);
        }
        if let Some(last) = replay.last_replayed {
            output["EventLastReplayedTime"] = seconds(last);
        }
        if let Some(reason) = &replay.state_reason {
            output["StateReason"] = json!(reason);
        }
        if let Some(description) = &replay.description {
            output["Description"] = json!(description);
        }
        output
    }

    pub(crate) async fn describe_replay(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let replay = self.load_replay(context, required(input, "ReplayName")?).await?;
        Ok(self.replay_json(&replay))
    }

    pub(crate) async fn list_replays(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let prefix = format!("{}/{}/{}", context.account, context.region, text(input, "NamePrefix").unwrap_or_default());
        let state = text(input, "State");
        let mut replays = Vec::new();
        for (_, bytes) in self.engine.store().list_resources(REPLAY_KIND, &prefix).await? {
            let Ok(replay) = serde_json::from_slice::<Replay>(&bytes) else { continue };
            if state.is_some_and(|state| state != replay.state) {
                continue;
            }
            replays.push(self.replay_json(&replay));
        }
        Ok(json!({"Replays": replays}))
    }

    pub(crate) async fn cancel_replay(&self, context: &EventsContext, input: &Value) -> Result<Value, EventsError> {
        let mut replay = self.load_replay(context, required(input, "ReplayName")?).await?;
        if !matches!(replay.state.as_str(), "STARTING" | "RUNNING") {
            return Err(EventsError::validation(format!("Replay {} is {} and cannot be cancelled.", replay.name, replay.state)));
        }
        replay.state = "CANCELLING".into();
        self.save(REPLAY_KIND, &replay.key(), &replay).await?;
        self.schedules_changed.notify_waiters();
        Ok(json!({"ReplayArn": replay.arn(), "State": "CANCELLING"}))
    }

    /// Carries out pending replays and ends cancelled ones. The scheduler
    /// calls it while it holds its lease.
    pub(crate) async fn run_replays(&self, now: u64) -> Result<(), EventsError> {
        for (_, bytes) in self.engine.store().list_resources(REPLAY_KIND, "").await? {
            let Ok(mut replay) = serde_json::from_slice::<Replay>(&bytes) else { continue };
            match replay.state.as_str() {
                "CANCELLING" => {
                    replay.state = "CANCELLED".into();
                    replay.ended_at = Some(now);
                    self.save(REPLAY_KIND, &replay.key(), &replay).await?;
                }
                "STARTING" | "RUNNING" => self.replay(&mut replay, now).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn replay(&self, replay: &mut Replay, now: u64) -> Result<(), EventsError> {
        replay.state = "RUNNING".into();
        self.save(REPLAY_KIND, &replay.key(), replay).await?;
        let context = EventsContext { account: replay.account.clone(), region: replay.region.clone() };
        let archive = match self.load_archive(&context, &replay.archive).await {
            Ok(archive) => archive,
            Err(error) => {
                replay.state = "FAILED".into();
                replay.state_reason = Some(error.message);
                replay.ended_at = Some(now);
                return self.save(REPLAY_KIND, &replay.key(), replay).await;
            }
        };
        let rules: Vec<Rule> = self
            .load_rules(&context, &replay.destination_bus)
            .await?
            .into_iter()
            .filter(|rule| rule.is_enabled())
            .filter(|rule| replay.filter_arns.is_empty() || replay.filter_arns.contains(&rule.arn()))
            .collect();
        for (time, mut event) in self.archived_events(&archive, now).await? {
            if time < replay.start || time >= replay.end || replay.last_replayed.is_some_and(|last| time <= last) {
                continue;
            }
            event["replay-name"] = json!(replay.name);
            let matching: Vec<Rule> = rules.iter().filter(|rule| crate::delivery::matches(rule, &event)).cloned().collect();
            self.queue_jobs(&matching, &event, now).await?;
            replay.last_replayed = Some(time);
        }
        replay.state = "COMPLETED".into();
        replay.ended_at = Some(now);
        self.save(REPLAY_KIND, &replay.key(), replay).await
    }
}

/// Returns the time of an event in milliseconds, for archiving.
pub(crate) fn event_time(event: &Value, fallback: u64) -> u64 {
    event.get("time").and_then(Value::as_str).and_then(postroom_queue::time::parse_iso8601).unwrap_or(fallback)
}
