//! `postroom bench`: a load generator for any SQS-compatible endpoint, and a
//! null server that measures the load generator's own ceiling.
//!
//! The generator keeps one HTTP/1.1 keep-alive connection per unit of
//! concurrency, each with one request in flight. It signs requests with
//! SigV4 as the AWS SDKs sign them, and sends AWS JSON 1.0 to SQS
//! (`X-Amz-Target: AmazonSQS.<Operation>`). The fan-out scenarios also
//! send the Query protocol to SNS and AWS JSON 1.1 to EventBridge. Each scenario
//! creates its own queues, topic or bus under unique names and deletes them
//! at the end, except `backlog`, whose queue `drain` empties and deletes
//! later. Latency goes into log-linear
//! histograms; the report is a table on stdout and, on request, JSON.

pub mod client;
pub mod events;
pub mod histogram;
pub mod null_server;
mod options;
pub mod process;
mod progress;
pub mod report;
mod runner;
mod scenario;
pub mod sigv4;
pub mod sns;
pub mod sqs;

pub use options::{BenchArgs, BenchCommand, LoadOptions, NullServerOptions};
pub use report::Report;
pub use scenario::{execute, Scenario};

use anyhow::{bail, Context as _};
use std::io::Write as _;

/// Runs `postroom bench` with its own Tokio runtime.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let (scenario, options) = match args.command {
            BenchCommand::NullServer(options) => return run_null_server(options).await,
            BenchCommand::Send(options) => (Scenario::Send, options),
            BenchCommand::SendBatch(options) => (Scenario::SendBatch, options),
            BenchCommand::Cycle(options) => (Scenario::Cycle, options),
            BenchCommand::Latency(options) => (Scenario::Latency, options),
            BenchCommand::Fifo(options) => (Scenario::Fifo, options),
            BenchCommand::FifoHot(options) => (Scenario::FifoHot, options),
            BenchCommand::Fanout(options) => (Scenario::Fanout, options),
            BenchCommand::FanoutEvents(options) => (Scenario::FanoutEvents, options),
            BenchCommand::Backlog(options) => (Scenario::Backlog, options),
            BenchCommand::Drain(options) => (Scenario::Drain, options),
        };
        if let Some(path) = &options.json {
            // A path that cannot be written fails now, not after the run.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("opening {} for the JSON report", path.display()))?;
        }
        let report = execute(scenario, options.clone()).await?;
        print!("{}", report.render());
        if let Some(path) = &options.json {
            report.write_json(path)?;
        }
        if let Some(pid) = report.exited_servers.first() {
            bail!("the server process {pid} exited during the run, so the figures do not measure it");
        }
        if report.requests == 0 {
            bail!("no request completed inside the measurement window; is the endpoint reachable?");
        }
        if report.messages_sent == 0 && report.messages_received == 0 && !report.errors.is_empty() {
            bail!("every request failed (see the errors above); the figures measure no working queue");
        }
        Ok(())
    })
}

async fn run_null_server(options: NullServerOptions) -> anyhow::Result<()> {
    let (address, server) = null_server::bind(options.listen, shutdown_signal())
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    println!("listening on {address}");
    std::io::stdout().flush().context("writing the bound address")?;
    server.await;
    Ok(())
}

/// Registers for SIGINT and SIGTERM at once and returns a future that
/// completes on either. A signal that arrives before the future is polled
/// is not lost.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            let (Ok(mut interrupt), Ok(mut terminate)) = handlers else {
                eprintln!("warning: installing signal handlers failed; SIGINT and SIGTERM end the process at once");
                return std::future::pending().await;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
