//! Command-line options of `postroom bench`.

use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Drive an SQS-compatible endpoint with a scenario and report its
/// throughput and latency, or run the null server.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// SendMessage, one body per request, on every connection.
    Send(LoadOptions),
    /// SendMessageBatch of --batch-size bodies per request, on every
    /// connection.
    SendBatch(LoadOptions),
    /// Half the connections send batches while the other half receive
    /// (10 at a time, long polls) and delete them. Reports end-to-end
    /// messages per second and send-to-receive latency.
    Cycle(LoadOptions),
    /// One SendMessage every --interval-ms to one long-polling consumer.
    /// Reports the time from the send's response to the message's arrival.
    Latency(LoadOptions),
    /// The cycle on a FIFO queue, with messages spread over --groups
    /// message groups.
    Fifo(LoadOptions),
    /// The cycle on a FIFO queue with one message group.
    FifoHot(LoadOptions),
    /// Half the connections publish to an SNS topic with --queues
    /// raw-delivery subscriptions, one per queue, while the other half
    /// receive and delete from the queues in turn. Reports deliveries
    /// received per second.
    Fanout(LoadOptions),
    /// Half the connections put events in batches of --batch-size on an
    /// EventBridge bus whose rule targets one queue, while the other half
    /// receive and delete from it.
    FanoutEvents(LoadOptions),
    /// Fills a queue with --messages bodies in batches and leaves it for
    /// `drain`.
    Backlog(LoadOptions),
    /// Receives and deletes every message of --queue-name, then deletes the
    /// queue.
    Drain(LoadOptions),
    /// Responds to every request with a fixed small JSON body, which measures
    /// the ceiling of the load generator and the HTTP stack.
    NullServer(NullServerOptions),
}

/// Options of the load scenarios. Each option names the scenarios that read
/// it when not all do.
#[derive(Clone, Debug, Args)]
pub struct LoadOptions {
    /// Endpoint URL (http://host:port). Repeat it or separate URLs with
    /// commas to spread the connections round-robin over several nodes that
    /// share their state. Queues are created and deleted through the first.
    #[arg(long = "endpoint", value_delimiter = ',', default_value = "http://127.0.0.1:4566")]
    pub endpoints: Vec<String>,

    /// HTTP/1.1 keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,

    /// Size of each message body, in bytes (at least 34, which fits the
    /// sequence number and send time).
    #[arg(long, default_value_t = 1024)]
    pub body_size: usize,

    /// Messages per SendMessageBatch request, or events per PutEvents, 1 to
    /// 10 (send-batch, cycle, fifo, fifo-hot, fanout-events, backlog).
    #[arg(long, default_value_t = 10)]
    pub batch_size: usize,

    /// Measured time, in seconds (every scenario but backlog and drain,
    /// which run until their messages are sent or deleted).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Time before the measurement starts, in seconds; requests in it are
    /// sent but not counted.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,

    /// WaitTimeSeconds of each ReceiveMessage, 0 to 20 (cycle, latency,
    /// fifo, fifo-hot, fanout, fanout-events). Receives still waiting when the measurement ends
    /// are abandoned.
    #[arg(long, default_value_t = 20)]
    pub wait_time_seconds: u32,

    /// Messages to send (backlog).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,

    /// Queue to fill (backlog; default: a new unique name) or to empty
    /// (drain; required).
    #[arg(long)]
    pub queue_name: Option<String>,

    /// Messages sent but not yet received at which producers pause until
    /// consumers catch up (cycle, fifo, fifo-hot, fanout, fanout-events);
    /// in fanout, every published message counts once per queue. The default, 0, runs
    /// producers open loop, so a server that accepts sends faster than it
    /// delivers builds a backlog. A bound keeps the queue short, and
    /// end-to-end latency then measures delivery, not the backlog's age.
    #[arg(long, default_value_t = 0)]
    pub max_backlog: u64,

    /// Message groups of the FIFO queue (fifo).
    #[arg(long, default_value_t = 100)]
    pub groups: u32,

    /// Queues subscribed to the topic, 1 to 100 (fanout).
    #[arg(long, default_value_t = 10)]
    pub queues: usize,

    /// Time between two sends, in milliseconds (latency).
    #[arg(long, default_value_t = 5)]
    pub interval_ms: u64,

    /// Limit of each request, in seconds, long-poll waits included; a
    /// request that exceeds it counts as a timeout error.
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout: f64,

    /// PID of a server process to measure: CPU seconds used during the
    /// measurement and peak resident memory, read from /proc. Repeat it for
    /// several nodes.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Name of the system under test, shown in the report.
    #[arg(long, default_value = "")]
    pub label: String,

    /// Region of the SigV4 credential scope.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// Access key id of the signature. A 12-digit key selects that account
    /// on Postroom.
    #[arg(long, default_value = "test")]
    pub access_key: String,

    /// Secret access key of the signature.
    #[arg(long, default_value = "test")]
    pub secret_key: String,

    /// Leave the progress line off stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Debug, Args)]
pub struct NullServerOptions {
    /// Address and port to listen on; port 0 picks a free port. The bound
    /// address is printed on stdout as `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:4566")]
    pub listen: SocketAddr,
}
