//! Command-line options. Every option can also be set through the
//! environment variable named in its help.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Postroom: SQS-compatible messaging on one port, for local development, CI
/// and self-hosting.
#[derive(Debug, Parser)]
#[command(name = "postroom", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeOptions,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeOptions),
    /// Drive an SQS-compatible endpoint with a load scenario and report
    /// throughput and latency, or run the null server.
    Bench(postroom_bench::BenchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClockKind {
    /// Follow the wall clock.
    System,
    /// Stand still until `POST /_postroom/clock` moves it, for tests of
    /// time-based behaviour.
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// One data directory, no other process.
    Embedded,
    /// A PostgreSQL database that several nodes can share.
    Postgres,
}

#[derive(Clone, Debug, Args)]
pub struct ServeOptions {
    /// Backend that keeps the state.
    #[arg(long, env = "POSTROOM_STORE", value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,

    /// PostgreSQL connection URL for `--store postgres`, such as
    /// postgres://user:password@host:5432/database (TLS is not supported).
    #[arg(long, env = "POSTROOM_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Connections in the PostgreSQL pool.
    #[arg(long, env = "POSTROOM_DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,

    /// PostgreSQL schema that contains the tables, created when missing. Nodes
    /// that share a schema share their state.
    #[arg(long, env = "POSTROOM_DATABASE_SCHEMA", default_value = "public")]
    pub database_schema: String,

    /// Address and port to listen on. Port 0 picks a free port, which is
    /// logged and written to `<data-dir>/postroom.addr`.
    #[arg(long, env = "POSTROOM_LISTEN", default_value = "127.0.0.1:4566")]
    pub listen: SocketAddr,

    /// Directory of the embedded store [default: the platform's data
    /// directory, such as ~/.local/share/postroom on Linux].
    #[arg(long, env = "POSTROOM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory and write nothing to disk, so all state is
    /// lost when the server stops. The address file is still written when
    /// --data-dir is given. Applies to the embedded store.
    #[arg(long, env = "POSTROOM_IN_MEMORY")]
    pub in_memory: bool,

    /// Account of requests whose access key is not a 12-digit account id.
    #[arg(long, env = "POSTROOM_DEFAULT_ACCOUNT", default_value = "000000000000", value_parser = parse_account)]
    pub default_account: String,

    /// Log filter: a level (error, warn, info, debug, trace) or a
    /// tracing-subscriber directive such as `info,postroom_http=debug`.
    #[arg(long, env = "POSTROOM_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Clock that every time-based rule reads.
    #[arg(long, env = "POSTROOM_CLOCK", value_enum, default_value_t = ClockKind::System)]
    pub clock: ClockKind,

    /// Largest request body accepted, in bytes. A batch of ten 1 MiB
    /// messages in Query form encoding fits in the default.
    #[arg(long, env = "POSTROOM_MAX_REQUEST_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_request_bytes: usize,

    /// Seconds that a stopping server gives SNS and EventBridge deliveries
    /// in progress to end. Those still running then are cut short, and the
    /// next start retries them at once.
    #[arg(
        long,
        env = "POSTROOM_STOP_GRACE",
        default_value_t = postroom_queue::DEFAULT_STOP_GRACE.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=300)
    )]
    pub stop_grace: u64,
}

fn parse_account(value: &str) -> Result<String, String> {
    if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not an AWS account id; use 12 digits"))
    }
}
