//! The scheduler: fires scheduled rules and carries out replays, on one
//! node at a time under a lease.

use crate::model::{Rule, RULE_KIND};
use crate::schedule::Schedule;
use crate::service::EventsService;
use serde_json::json;
use std::sync::Arc;

/// Maximum sleep of the scheduler between two looks at the rules, on the
/// server clock, in milliseconds.
const SCHEDULER_TICK_MS: u64 = 60_000;

impl EventsService {
    /// Fires scheduled rules when their time comes, until the server stops.
    /// On a shared database one node at a time schedules, under a lease.
    pub async fn run_schedules(self: Arc<Self>) {
        loop {
            let changed = self.schedules_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.engine.is_stopping() {
                return;
            }
            let now = self.engine.clock().now();
            let next = match self.fire_due_rules(now).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "running scheduled rules failed");
                    None
                }
            };
            let wake_at = next.map_or(now + SCHEDULER_TICK_MS, |at| at.min(now + SCHEDULER_TICK_MS));
            tokio::select! {
                () = self.engine.clock().sleep_until(wake_at) => {}
                () = &mut changed => {}
                () = self.engine.stopped() => return,
            }
        }
    }

    /// Fires the rules whose time has come and returns the earliest next
    /// firing.
    async fn fire_due_rules(&self, now: u64) -> Result<Option<u64>, crate::error::EventsError> {
        let lease_until = now + 2 * SCHEDULER_TICK_MS;
        if !self.engine.store().acquire_lease("events-scheduler", &self.node_id, now, lease_until).await? {
            return Ok(None);
        }
        self.run_replays(now).await?;
        let mut earliest: Option<u64> = None;
        for (_, bytes) in self.engine.store().list_resources(RULE_KIND, "").await? {
            let Ok(mut rule) = serde_json::from_slice::<Rule>(&bytes) else { continue };
            let (Some(expression), Some(due)) = (rule.schedule_expression.clone(), rule.next_fire_at) else { continue };
            let Some(schedule) = Schedule::parse(&expression) else { continue };
            if due <= now {
                if rule.is_enabled() {
                    let event = json!({
                        "version": "0",
                        "id": uuid::Uuid::new_v4().to_string(),
                        "detail-type": "Scheduled Event",
                        "source": "aws.events",
                        "account": rule.account,
                        "time": postroom_queue::time::iso8601(due, false),
                        "region": rule.region,
                        "resources": [rule.arn()],
                        "detail": {},
                    });
                    tracing::debug!(rule = %rule.arn(), "firing a scheduled rule");
                    self.queue_jobs(std::slice::from_ref(&rule), &event, now).await?;
                }
                // Missed firings are not repeated: the next one follows now.
                rule.next_fire_at = schedule.next_after(now, rule.created_at);
                self.save_rule(&rule).await?;
            }
            if let Some(next) = rule.next_fire_at {
                earliest = Some(earliest.map_or(next, |current| current.min(next)));
            }
        }
        Ok(earliest)
    }
}
