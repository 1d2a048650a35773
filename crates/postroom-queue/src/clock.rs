//! The server clock.
//!
//! [`Clock::System`] follows the wall clock. [`Clock::Manual`] starts at the
//! wall-clock time of its creation and then moves only when
//! [`Clock::advance`] is called, so that tests can step through a 12-hour
//! visibility timeout in milliseconds. Sleeping on a manual clock waits for
//! it to be advanced past the target instant.

use postroom_store::Timestamp;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Manual(Arc<watch::Sender<Timestamp>>),
}

impl Clock {
    /// Creates a manual clock that reads the current wall-clock time until
    /// it is advanced.
    pub fn manual() -> Self {
        Self::manual_at(system_now())
    }

    pub fn manual_at(start: Timestamp) -> Self {
        Clock::Manual(Arc::new(watch::Sender::new(start)))
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual(_))
    }

    /// Current instant in milliseconds since the Unix epoch.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => system_now(),
            Clock::Manual(sender) => *sender.borrow(),
        }
    }

    /// Moves a manual clock forward and wakes everything sleeping on it.
    /// Returns the new instant, or `None` for the system clock.
    pub fn advance(&self, by: Duration) -> Option<Timestamp> {
        match self {
            Clock::System => None,
            Clock::Manual(sender) => {
                let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
                sender.send_modify(|now| *now = now.saturating_add(millis));
                Some(*sender.borrow())
            }
        }
    }

    /// Completes once the clock reads `instant` or later.
    pub async fn sleep_until(&self, instant: Timestamp) {
        match self {
            Clock::System => {
                let remaining = instant.saturating_sub(system_now());
                if remaining > 0 {
                    tokio::time::sleep(Duration::from_millis(remaining)).await;
                }
            }
            Clock::Manual(sender) => {
                let mut changes = sender.subscribe();
                while *changes.borrow_and_update() < instant {
                    if changes.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

fn system_now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_on_advance() {
        let clock = Clock::manual_at(1_000);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(31_000).await }
        });
        clock.advance(Duration::from_secs(10));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before the target instant");
        assert_eq!(clock.advance(Duration::from_secs(20)), Some(31_000));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper must wake")
            .expect("sleeper task");
    }

    #[test]
    fn system_clock_does_not_advance() {
        assert_eq!(Clock::System.advance(Duration::from_secs(1)), None);
    }
}
