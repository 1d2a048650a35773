//! `postroom serve`: wiring, startup and shutdown.

use crate::cli::{ClockKind, ServeOptions, StoreKind};
use anyhow::Context as _;
use postroom_http::App;
use postroom_queue::{Clock, QueueEngine};
use postroom_store::embedded::EmbeddedStore;
use postroom_store::postgres::{PostgresOptions, PostgresStore};
use postroom_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Time that stopping deliveries get, past the grace period, to record the
/// outcomes of their jobs.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the file in the data directory that receives the bound address.
const ADDRESS_FILE: &str = "postroom.addr";

pub fn run(options: ServeOptions) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&options.log_level)
        .with_context(|| format!("invalid --log-level {:?}", options.log_level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(options))
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let base = dirs::data_dir().context("no platform data directory is known here; pass --data-dir")?;
    Ok(base.join("postroom"))
}

async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let embedded_on_disk = options.store == StoreKind::Embedded && !options.in_memory;
    let data_dir = match (&options.data_dir, embedded_on_disk) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(default_data_dir()?),
        (None, false) => None,
    };

    let mut embedded = None;
    let store: Arc<dyn Store> = match options.store {
        StoreKind::Embedded if options.in_memory => {
            let store = Arc::new(EmbeddedStore::in_memory());
            embedded = Some(store.clone());
            store
        }
        StoreKind::Embedded => {
            let path = data_dir.as_ref().context("the embedded store needs a data directory")?;
            let opened = tokio::task::block_in_place(|| EmbeddedStore::open(path));
            let store = Arc::new(opened.with_context(|| format!("opening the store in {}", path.display()))?);
            embedded = Some(store.clone());
            store
        }
        StoreKind::Postgres => {
            let url = options
                .database_url
                .clone()
                .context("--store postgres needs --database-url (or POSTROOM_DATABASE_URL)")?;
            let postgres = PostgresOptions {
                url,
                pool_size: options.database_pool_size,
                schema: options.database_schema.clone(),
            };
            Arc::new(PostgresStore::connect(postgres).await.context("connecting to PostgreSQL")?)
        }
    };
    let clock = match options.clock {
        ClockKind::System => Clock::System,
        ClockKind::Manual => {
            // A manual clock never goes back across a restart: it resumes
            // where it stood, or at the wall-clock time if that is later.
            let stored = store
                .get_resource(postroom_http::CLOCK_KIND, postroom_http::CLOCK_KEY)
                .await
                .context("reading the manual clock")?
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<u64>().ok());
            let wall = Clock::System.now();
            Clock::manual_at(stored.map_or(wall, |stored| stored.max(wall)))
        }
    };
    let stop_grace = Duration::from_secs(options.stop_grace);
    let engine = Arc::new(QueueEngine::new(store.clone(), clock).with_stop_grace(stop_grace));
    tokio::spawn(engine.clone().supervise_move_tasks());
    tokio::spawn(engine.clone().sweep_retention());
    let app = Arc::new(App::new(engine.clone(), options.default_account.clone(), options.max_request_bytes));
    // Tasks that write to the store, which the store must outlive.
    let writers = [
        tokio::spawn(app.events.clone().run_deliveries()),
        tokio::spawn(app.events.clone().run_schedules()),
        tokio::spawn(app.sns.clone().run_deliveries()),
    ];

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    if let Some(directory) = &data_dir {
        std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
        let path = directory.join(ADDRESS_FILE);
        std::fs::write(&path, format!("{address}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    tracing::info!(
        %address,
        store = store.kind(),
        durable = store.is_durable(),
        data_dir = data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "none".into()),
        clock = ?options.clock,
        version = env!("CARGO_PKG_VERSION"),
        "postroom started"
    );

    let shutdown = {
        let engine = engine.clone();
        async move {
            let signal = shutdown_signal().await;
            tracing::info!(signal, "stopping: finishing requests in progress");
            engine.stop_long_polls();
        }
    };
    postroom_http::serve(listener, app, shutdown).await;
    // Deliveries end within the grace period, then settle their jobs.
    let writers_done = async {
        for writer in writers {
            if let Err(error) = writer.await {
                tracing::error!(%error, "stopping: a delivery or scheduling task failed");
            }
        }
    };
    let settled = tokio::time::timeout(stop_grace + SETTLE_TIMEOUT, writers_done).await;
    if settled.is_err() {
        tracing::warn!(
            "stopping: deliveries did not settle in time; their jobs come back after their visibility timeout"
        );
    }

    store.flush().await.context("flushing the store")?;
    if let Some(embedded) = embedded {
        embedded.close();
    }
    tracing::info!("postroom stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM and returns the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            tracing::warn!("installing signal handlers failed; stop the server with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
