//! State that every scenario shares: the measurement window, the clients,
//! the per-task statistics and the counters behind the progress line.

use crate::client::{CallError, Client, Endpoint, Service, Signers};
use crate::histogram::Histogram;
use crate::options::LoadOptions;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pause after a transport error, so that a stopped server does not turn
/// the load generator into a busy loop of failed connects.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// One run of a scenario.
pub struct Run {
    pub options: LoadOptions,
    pub endpoints: Vec<Endpoint>,
    pub signers: Arc<Signers>,
    /// Zero of the send times written into message bodies.
    pub base: Instant,
    /// Start of the measurement, after the warm-up.
    pub measure_start: Instant,
    /// End of the measurement; no request starts after it.
    pub end: Instant,
    /// Whether the run lasts until its work is done instead of until `end`.
    pub unbounded: bool,
    pub counters: Counters,
    /// Next message sequence number, unique within the run.
    next_sequence: AtomicU64,
}

/// Totals since the start of the run, warm-up included, for the progress
/// line.
#[derive(Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub errors: AtomicU64,
}

/// Measurements of one task inside the window. Tasks merge theirs at the
/// end.
#[derive(Default)]
pub struct Stats {
    /// Request latency by operation name.
    pub latency: BTreeMap<&'static str, Histogram>,
    /// Send-to-receive latency of messages.
    pub end_to_end: Histogram,
    /// Time from the start of each send request to the message's arrival
    /// (latency scenario).
    pub from_send_start: Histogram,
    pub requests: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Error counts by code, batch entry failures included.
    pub errors: BTreeMap<String, u64>,
    /// Time of the last successful delete (drain).
    pub last_delete: Option<Instant>,
    /// Messages that arrived at the consumer before their send's response
    /// reached the producer (latency scenario); recorded as 0 µs.
    pub early_arrivals: u64,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        for (operation, histogram) in other.latency {
            self.latency.entry(operation).or_default().merge(&histogram);
        }
        self.end_to_end.merge(&other.end_to_end);
        self.from_send_start.merge(&other.from_send_start);
        self.requests += other.requests;
        self.messages_sent += other.messages_sent;
        self.messages_received += other.messages_received;
        for (code, count) in other.errors {
            *self.errors.entry(code).or_default() += count;
        }
        self.early_arrivals += other.early_arrivals;
        self.last_delete = self.last_delete.max(other.last_delete);
    }

    pub fn count_error(&mut self, code: String) {
        *self.errors.entry(code).or_default() += 1;
    }
}

/// Result of one timed call.
pub struct Timed {
    pub result: Result<Bytes, CallError>,
    /// Whether the call started and finished inside the measurement
    /// window, so that its outcome counts.
    pub counted: bool,
    pub finished: Instant,
}

impl Run {
    /// Creates a run whose measurement starts after the warm-up and lasts
    /// `duration` seconds.
    pub fn new(options: LoadOptions, endpoints: Vec<Endpoint>) -> Self {
        let base = Instant::now();
        let measure_start = base + Duration::from_secs_f64(options.warmup);
        let end = measure_start + Duration::from_secs_f64(options.duration);
        Self::with_window(options, endpoints, base, measure_start, end, false)
    }

    /// Creates a run that counts everything until it is done, for the
    /// scenarios that end when their work is (backlog, drain).
    pub fn unbounded(options: LoadOptions, endpoints: Vec<Endpoint>) -> Self {
        let base = Instant::now();
        // Far enough that no run reaches it, near enough not to overflow.
        let end = base + Duration::from_secs(365 * 24 * 3600);
        Self::with_window(options, endpoints, base, base, end, true)
    }

    fn with_window(
        options: LoadOptions,
        endpoints: Vec<Endpoint>,
        base: Instant,
        measure_start: Instant,
        end: Instant,
        unbounded: bool,
    ) -> Self {
        let signers = Arc::new(Signers::new(&options.access_key, &options.secret_key, &options.region));
        Self {
            options,
            endpoints,
            signers,
            base,
            measure_start,
            end,
            unbounded,
            counters: Counters::default(),
            next_sequence: AtomicU64::new(0),
        }
    }

    /// Creates the client of connection number `index`, which takes the
    /// endpoints in turn.
    pub fn client(&self, index: usize) -> Client {
        let endpoint = self.endpoints[index % self.endpoints.len()].clone();
        Client::new(endpoint, self.signers.clone(), Duration::from_secs_f64(self.options.request_timeout))
    }

    /// Creates a client on the first endpoint, for creating and deleting
    /// queues.
    pub fn control_client(&self) -> Client {
        self.client(0)
    }

    pub fn finished(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Microseconds since the start of the run.
    pub fn micros_since_base(&self, time: Instant) -> u64 {
        u64::try_from(time.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    pub fn in_window(&self, started: Instant, finished: Instant) -> bool {
        started >= self.measure_start && finished <= self.end
    }

    /// Reserves `count` consecutive sequence numbers and returns the first.
    pub fn next_sequences(&self, count: u64) -> u64 {
        self.next_sequence.fetch_add(count, Ordering::Relaxed)
    }

    /// Sends one request and records its latency and outcome in `stats`
    /// when it falls inside the measurement window. A request still in
    /// flight when the window ends is abandoned with its connection, so that
    /// a slow server cannot stretch the run. It returns `Abandoned` and is
    /// not counted.
    pub async fn call(&self, client: &mut Client, stats: &mut Stats, operation: &'static str, body: Vec<u8>) -> Timed {
        self.call_service(client, stats, Service::Sqs, operation, body).await
    }

    /// Like [`Run::call`], for an operation of any service.
    pub async fn call_service(
        &self,
        client: &mut Client,
        stats: &mut Stats,
        service: Service,
        operation: &'static str,
        body: Vec<u8>,
    ) -> Timed {
        let started = Instant::now();
        let end = tokio::time::Instant::from_std(self.end);
        let result = tokio::select! {
            result = client.call_service(service, operation, body) => result,
            () = tokio::time::sleep_until(end) => {
                client.disconnect();
                Err(CallError::Abandoned)
            }
        };
        let finished = Instant::now();
        let abandoned = matches!(result, Err(CallError::Abandoned));
        let counted = !abandoned && self.in_window(started, finished);

        if !abandoned {
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            if result.is_err() {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if counted {
            stats.requests += 1;
            stats.latency.entry(operation).or_default().record(finished - started);
            if let Err(error) = &result {
                stats.count_error(error.code());
            }
        }
        if matches!(result, Err(CallError::Transport(_))) {
            tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
        }
        Timed { result, counted, finished }
    }
}
