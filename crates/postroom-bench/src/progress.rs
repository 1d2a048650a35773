//! The progress line on stderr: rewritten in place every second on a
//! terminal, one line every five seconds otherwise (logs, pipes).

use crate::runner::Run;
use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

pub struct Progress {
    task: Option<JoinHandle<()>>,
    terminal: bool,
}

impl Progress {
    /// Starts printing unless `quiet`.
    pub fn start(run: Arc<Run>, scenario: &'static str, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        if quiet {
            return Self { task: None, terminal };
        }
        let period = if terminal { Duration::from_secs(1) } else { Duration::from_secs(5) };
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            let mut last = Totals::read(&run);
            let mut last_time = Instant::now();
            loop {
                ticks.tick().await;
                let now = Instant::now();
                let totals = Totals::read(&run);
                let line = format_line(&run, scenario, now, &totals, &last, now - last_time);
                let mut stderr = std::io::stderr().lock();
                if terminal {
                    let _ = write!(stderr, "\r\x1b[2K{line}");
                } else {
                    let _ = writeln!(stderr, "{line}");
                }
                let _ = stderr.flush();
                last = totals;
                last_time = now;
            }
        });
        Self { task: Some(task), terminal }
    }

    /// Stops printing and ends the line on a terminal.
    pub fn stop(self) {
        if let Some(task) = self.task {
            task.abort();
            if self.terminal {
                eprintln!();
            }
        }
    }
}

struct Totals {
    requests: u64,
    sent: u64,
    received: u64,
    errors: u64,
}

impl Totals {
    fn read(run: &Run) -> Self {
        Self {
            requests: run.counters.requests.load(Ordering::Relaxed),
            sent: run.counters.sent.load(Ordering::Relaxed),
            received: run.counters.received.load(Ordering::Relaxed),
            errors: run.counters.errors.load(Ordering::Relaxed),
        }
    }
}

fn format_line(run: &Run, scenario: &str, now: Instant, totals: &Totals, last: &Totals, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let rate = |current: u64, previous: u64| (current.saturating_sub(previous)) as f64 / seconds;
    let phase = if now < run.measure_start {
        format!("warm-up {:.0}/{:.0} s", (now - run.base).as_secs_f64(), run.options.warmup)
    } else if run.unbounded {
        format!("{:.0} s", (now - run.base).as_secs_f64())
    } else {
        format!("measuring {:.0}/{:.0} s", (now - run.measure_start).as_secs_f64(), run.options.duration)
    };
    format!(
        "{scenario}: {phase} | {:.0} req/s | sent {} ({:.0}/s) | received {} ({:.0}/s) | errors {}",
        rate(totals.requests, last.requests),
        totals.sent,
        rate(totals.sent, last.sent),
        totals.received,
        rate(totals.received, last.received),
        totals.errors
    )
}
