//! The scenarios and the steps around them: checking the options, creating
//! the queues and topics, sampling the processes, and building the report.

mod backlog;
mod cycle;
mod fanout;
mod latency;
mod queue;
mod send;

use crate::client::Endpoint;
use crate::options::LoadOptions;
use crate::process::{self, ProcessSample};
use crate::progress::Progress;
use crate::report::Report;
use crate::runner::{Run, Stats};
use crate::sqs::MIN_BODY_SIZE;
use anyhow::{bail, ensure};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinHandle;

/// A load scenario; the names are those of the subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Send,
    SendBatch,
    Cycle,
    Latency,
    Fifo,
    FifoHot,
    Fanout,
    FanoutEvents,
    Backlog,
    Drain,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::SendBatch => "send-batch",
            Self::Cycle => "cycle",
            Self::Latency => "latency",
            Self::Fifo => "fifo",
            Self::FifoHot => "fifo-hot",
            Self::Fanout => "fanout",
            Self::FanoutEvents => "fanout-events",
            Self::Backlog => "backlog",
            Self::Drain => "drain",
        }
    }

    /// Returns true when the scenario runs until its work is done rather
    /// than for `--duration` after a warm-up.
    fn is_unbounded(self) -> bool {
        matches!(self, Self::Backlog | Self::Drain)
    }

    fn is_fifo(self) -> bool {
        matches!(self, Self::Fifo | Self::FifoHot)
    }

    /// Returns true when the scenario's messages per second count the
    /// messages received rather than those sent.
    fn counts_received(self) -> bool {
        matches!(
            self,
            Self::Cycle | Self::Latency | Self::Fifo | Self::FifoHot | Self::Fanout | Self::FanoutEvents | Self::Drain
        )
    }

    /// Returns true when half the connections produce and half consume.
    fn has_producers_and_consumers(self) -> bool {
        matches!(self, Self::Cycle | Self::Fifo | Self::FifoHot | Self::Fanout | Self::FanoutEvents)
    }

    fn is_fanout(self) -> bool {
        matches!(self, Self::Fanout | Self::FanoutEvents)
    }
}

/// Resources that a run creates and deletes at its end.
enum Resources {
    Queue(Arc<str>),
    Fanout(Arc<fanout::Topology>),
}

impl Resources {
    async fn delete(&self, control: &mut crate::client::Client) -> anyhow::Result<()> {
        match self {
            Self::Queue(url) => queue::delete(control, url).await,
            Self::Fanout(topology) => topology.delete(control).await,
        }
    }
}

/// Runs `scenario` with `options` and returns its report.
pub async fn execute(scenario: Scenario, options: LoadOptions) -> anyhow::Result<Report> {
    validate(scenario, &options)?;
    // Registered before the queue exists, so that a signal at any later
    // moment ends the run with the queue deleted.
    let interrupted = crate::shutdown_signal();
    let endpoints = options.endpoints.iter().map(|url| Endpoint::parse(url)).collect::<anyhow::Result<Vec<_>>>()?;

    // The queues are created before the run starts, so the warm-up starts
    // with them in place.
    let setup = Run::unbounded(options.clone(), endpoints.clone());
    let mut control = setup.control_client();
    let (name, resources, expected) = match scenario {
        Scenario::Drain => {
            let name = options.queue_name.clone().unwrap_or_default();
            let (url, count) = backlog::inspect(&setup, &name).await?;
            (name, Resources::Queue(url.into()), count)
        }
        Scenario::Fanout | Scenario::FanoutEvents => {
            let topology = fanout::Topology::create(&mut control, scenario, options.queues).await?;
            (topology.name.clone(), Resources::Fanout(Arc::new(topology)), 0)
        }
        _ => {
            let name = match (&options.queue_name, scenario) {
                (Some(name), Scenario::Backlog) => name.clone(),
                _ => queue::unique_name(scenario.name(), scenario.is_fifo()),
            };
            let url = queue::create(&mut control, &name, scenario.is_fifo()).await?;
            (name, Resources::Queue(url.into()), 0)
        }
    };

    let run = Arc::new(if scenario.is_unbounded() {
        Run::unbounded(options.clone(), endpoints)
    } else {
        Run::new(options.clone(), endpoints)
    });
    let progress = Progress::start(run.clone(), scenario.name(), options.quiet);
    let pids = watched_pids(&options);
    let sampler = spawn_sampler(&run, pids.clone(), scenario.is_unbounded());
    let (queue_url, topology): (Arc<str>, _) = match &resources {
        Resources::Queue(url) => (url.clone(), None),
        Resources::Fanout(topology) => (Arc::from(""), Some(topology.clone())),
    };
    let fan_out = topology.as_ref().map_or(1, |topology| topology.fan_out());

    let work = async {
        match scenario {
            Scenario::Send => send::send(run.clone(), queue_url.clone()).await,
            Scenario::SendBatch => send::send_batch(run.clone(), queue_url.clone()).await,
            Scenario::Cycle => cycle::cycle(run.clone(), queue_url.clone(), None).await,
            Scenario::Fifo => cycle::cycle(run.clone(), queue_url.clone(), Some(options.groups)).await,
            Scenario::FifoHot => cycle::cycle(run.clone(), queue_url.clone(), Some(1)).await,
            Scenario::Fanout | Scenario::FanoutEvents => match &topology {
                Some(topology) => fanout::fanout(run.clone(), topology.clone()).await,
                None => Stats::default(),
            },
            Scenario::Latency => latency::latency(run.clone(), queue_url.clone()).await,
            Scenario::Backlog => backlog::fill(run.clone(), queue_url.clone()).await,
            Scenario::Drain => backlog::drain(run.clone(), queue_url.clone(), expected).await,
        }
    };
    // SIGINT or SIGTERM ends the run without a report, but not before the
    // queues are deleted: a durable server would keep them and their
    // messages.
    let stats = tokio::select! {
        stats = work => stats,
        () = interrupted => {
            progress.stop();
            let outcome = match resources.delete(&mut control).await {
                Ok(()) if scenario.is_fanout() => format!("the resources of {name} were deleted"),
                Ok(()) => format!("the queue {name} was deleted"),
                Err(error) => format!("{error:#}"),
            };
            bail!("interrupted before the end of the run; {outcome}");
        }
    };
    let finished = Instant::now();
    progress.stop();

    let (before, after) = match sampler {
        Sampler::Window(task) => task.await.unwrap_or_default(),
        Sampler::Unbounded(before) => (before, snapshot(&pids)),
    };
    // CPU figures divide by the time between the two snapshots.
    let sampled = if scenario.is_unbounded() { finished - run.base } else { run.end - run.measure_start };
    let measured = match (scenario, stats.last_delete) {
        // Connections that find the queue empty wait out their long polls
        // before they stop; that tail is not part of the drain.
        (Scenario::Drain, Some(last_delete)) => last_delete - run.base,
        _ if scenario.is_unbounded() => finished - run.base,
        _ => run.end - run.measure_start,
    };

    if scenario != Scenario::Backlog {
        if let Err(error) = resources.delete(&mut control).await {
            eprintln!("warning: {error:#}");
        }
    }

    let mut report = Report::new(scenario.name(), &options, measured, &stats, scenario.counts_received());
    report.set_processes(&before.0, &after.0, sampled);
    if let (Some(start), Some(end)) = (before.1, after.1) {
        report.machine_cores_busy = Some((end - start).max(0.0) / sampled.as_secs_f64().max(1e-9));
    }
    report.queue_name = Some(name);
    report.exited_servers = options.server_pids.iter().copied().filter(|pid| !crate::process::exists(*pid)).collect();
    for pid in &report.exited_servers {
        report.notes.push(format!(
            "server process {pid} exited during the run: its CPU and memory are missing, and the rates include the time it was down"
        ));
    }
    add_notes(&mut report, scenario, &options, &stats, expected, fan_out);
    Ok(report)
}

/// Maximum duration, warm-up or request timeout: a week. That is far
/// beyond any useful run, and a deadline of warm-up plus duration from now
/// still fits in an `Instant`.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Maximum number of queues subscribed to the topic of `fanout`.
const MAX_QUEUES: usize = 100;

/// Maximum pause between two sends of `latency`.
const MAX_INTERVAL_MS: u64 = 60_000;

fn validate(scenario: Scenario, options: &LoadOptions) -> anyhow::Result<()> {
    ensure!(!options.endpoints.is_empty(), "no --endpoint given");
    ensure!(options.concurrency >= 1, "--concurrency must be at least 1");
    if scenario.has_producers_and_consumers() {
        ensure!(
            options.concurrency >= 2,
            "{} needs --concurrency of at least 2: producers and consumers",
            scenario.name()
        );
    }
    ensure!((1..=10).contains(&options.batch_size), "--batch-size {} is invalid; use 1 to 10", options.batch_size);
    ensure!(
        options.body_size >= MIN_BODY_SIZE,
        "--body-size {} is too small; use at least {MIN_BODY_SIZE} bytes",
        options.body_size
    );
    ensure!(
        options.duration > 0.0 && options.duration <= MAX_SECONDS,
        "--duration must be a positive number of seconds, at most {MAX_SECONDS}"
    );
    ensure!(
        options.warmup >= 0.0 && options.warmup <= MAX_SECONDS,
        "--warmup must be 0 or more seconds, at most {MAX_SECONDS}"
    );
    ensure!(
        options.request_timeout > 0.0 && options.request_timeout <= MAX_SECONDS,
        "--request-timeout must be a positive number of seconds, at most {MAX_SECONDS}"
    );
    ensure!(
        options.interval_ms <= MAX_INTERVAL_MS,
        "--interval-ms {} is invalid; use at most {MAX_INTERVAL_MS}",
        options.interval_ms
    );
    ensure!(
        options.wait_time_seconds <= 20,
        "--wait-time-seconds {} is invalid; use 0 to 20",
        options.wait_time_seconds
    );
    let long_polls = !matches!(scenario, Scenario::Send | Scenario::SendBatch | Scenario::Backlog);
    ensure!(
        !long_polls || options.request_timeout > f64::from(options.wait_time_seconds),
        "--request-timeout must exceed --wait-time-seconds, or every long poll times out"
    );
    ensure!(options.groups >= 1, "--groups must be at least 1");
    ensure!(
        (1..=MAX_QUEUES).contains(&options.queues),
        "--queues {} is invalid; use 1 to {MAX_QUEUES}",
        options.queues
    );
    for pid in &options.server_pids {
        ensure!(crate::process::exists(*pid), "--server-pid {pid}: no such process");
    }
    ensure!(options.messages >= 1, "--messages must be at least 1");
    if scenario == Scenario::Drain && options.queue_name.is_none() {
        bail!("drain needs --queue-name, the queue that backlog filled");
    }
    Ok(())
}

/// Lists the server processes from `--server-pid`, then the load generator.
fn watched_pids(options: &LoadOptions) -> Vec<u32> {
    let mut pids = options.server_pids.clone();
    pids.push(std::process::id());
    pids
}

/// The watched processes and the machine's busy CPU seconds at one time.
type Snapshot = (Vec<ProcessSample>, Option<f64>);

fn snapshot(pids: &[u32]) -> Snapshot {
    (process::sample_all(pids), process::machine_busy_seconds())
}

enum Sampler {
    /// Snapshots taken at the start and the end of the measurement window.
    Window(JoinHandle<(Snapshot, Snapshot)>),
    /// A snapshot from the start of an unbounded run; the second is taken
    /// when it finishes.
    Unbounded(Snapshot),
}

fn spawn_sampler(run: &Run, pids: Vec<u32>, unbounded: bool) -> Sampler {
    if unbounded {
        return Sampler::Unbounded(snapshot(&pids));
    }
    let start = tokio::time::Instant::from_std(run.measure_start);
    let end = tokio::time::Instant::from_std(run.end);
    Sampler::Window(tokio::spawn(async move {
        tokio::time::sleep_until(start).await;
        let before = snapshot(&pids);
        tokio::time::sleep_until(end).await;
        (before, snapshot(&pids))
    }))
}

fn add_notes(
    report: &mut Report,
    scenario: Scenario,
    options: &LoadOptions,
    stats: &Stats,
    expected: u64,
    fan_out: u64,
) {
    match scenario {
        Scenario::Backlog => {
            report.notes.push(format!(
                "filled {} of {} messages into {}; the queue is kept for drain",
                stats.messages_sent,
                options.messages,
                report.queue_name.as_deref().unwrap_or_default()
            ));
        }
        Scenario::Drain => {
            report.notes.push(format!(
                "the queue held {expected} messages (visible, in flight and delayed) at the start; {} were received",
                stats.messages_received
            ));
        }
        Scenario::Latency => {
            report.notes.push(format!(
                "one send every {} ms; end-to-end latency runs from the send's response to the receive's response",
                options.interval_ms
            ));
            if stats.early_arrivals > 0 {
                report.notes.push(match stats.early_arrivals {
                    1 => "1 message arrived before its send's response and counts as 0 ms".to_string(),
                    count => format!("{count} messages arrived before their send's response and count as 0 ms"),
                });
            }
        }
        Scenario::Cycle | Scenario::Fifo | Scenario::FifoHot | Scenario::Fanout | Scenario::FanoutEvents => {
            let producers = (options.concurrency / 2).max(1);
            let built = if scenario == Scenario::Fanout { "building the message" } else { "building the batch" };
            report.notes.push(format!(
                "{producers} producer and {} consumer connections; ReceiveMessage takes 10 with WaitTimeSeconds={}; \
                 end-to-end latency runs from {built} to the receive's response",
                options.concurrency.saturating_sub(producers).max(1),
                options.wait_time_seconds
            ));
            match scenario {
                Scenario::Fifo => report.notes.push(format!("{} message groups", options.groups)),
                Scenario::Fanout => report.notes.push(format!(
                    "each Publish goes to {fan_out} queues with raw delivery: {} messages published, {} deliveries",
                    stats.messages_sent,
                    stats.messages_sent * fan_out
                )),
                Scenario::FanoutEvents => report
                    .notes
                    .push(format!("PutEvents of {} events on a bus whose rule targets one queue", options.batch_size)),
                _ => {}
            }
            if options.max_backlog > 0 {
                report
                    .notes
                    .push(format!("producers pause while {} messages are sent but not received", options.max_backlog));
            }
            // Without the bound, or with a large one, a server that accepts
            // sends faster than it delivers builds a backlog whose age the
            // latency shows.
            let delivered = stats.messages_sent * fan_out;
            if delivered > stats.messages_received + stats.messages_received / 20 {
                report.notes.push(format!(
                    "{} messages sent but not received in the window: a backlog grew, so end-to-end latency includes queueing time",
                    delivered - stats.messages_received
                ));
            }
        }
        Scenario::Send | Scenario::SendBatch => {}
    }
}

/// Waits for the tasks and merges their statistics. A task that panicked
/// is reported on stderr and left out.
async fn join_all(tasks: Vec<JoinHandle<Stats>>) -> Stats {
    let mut total = Stats::default();
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(error) => eprintln!("warning: a load task failed: {error}"),
        }
    }
    total
}
