//! A real server process for end-to-end tests, driven by aws-sdk-sqs and by
//! raw HTTP requests.
//!
//! With `POSTROOM_TEST_STORE=postgres` and `POSTROOM_TEST_DATABASE_URL`
//! set, every server runs on PostgreSQL, each in a schema of its own, and
//! a restart on the same data directory reuses its schema.

#![allow(dead_code)]

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `postroom serve` process on a free port, stopped on drop.
pub struct Server {
    child: Option<Child>,
    pub address: String,
    pub data_dir: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

/// How to start a server.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub in_memory: bool,
    pub manual_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { in_memory: true, manual_clock: true }
    }
}

impl Server {
    pub fn start(options: Options) -> Self {
        let temporary = tempfile::tempdir().expect("temporary directory");
        let data_dir = temporary.path().to_path_buf();
        let mut server = Self::start_in(&data_dir, options);
        server._temporary = Some(temporary);
        server
    }

    /// Starts a server on an existing data directory, which outlives it.
    pub fn start_in(data_dir: &Path, options: Options) -> Self {
        let schema = schema_for(data_dir);
        let url = postgres_url();
        let database = schema.as_deref().zip(url.as_deref());
        Self::launch(data_dir, options, database)
    }

    /// Starts one node of a cluster: a server on the PostgreSQL schema
    /// `schema`, which other nodes may share.
    pub fn start_node(schema: &str, manual_clock: bool) -> Self {
        let url = postgres_url().expect("cluster tests run on PostgreSQL");
        Self::start_node_on(&url, schema, manual_clock)
    }

    /// Starts one node of a cluster on the database at `url`.
    pub fn start_node_on(url: &str, schema: &str, manual_clock: bool) -> Self {
        let temporary = tempfile::tempdir().expect("temporary directory");
        let options = Options { in_memory: false, manual_clock };
        let mut server = Self::launch(temporary.path(), options, Some((schema, url)));
        server._temporary = Some(temporary);
        server
    }

    fn launch(data_dir: &Path, options: Options, database: Option<(&str, &str)>) -> Self {
        let address_file = data_dir.join("postroom.addr");
        let _ = std::fs::remove_file(&address_file);
        let mut command = Command::new(env!("CARGO_BIN_EXE_postroom"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn", "--data-dir"]).arg(data_dir);
        match database {
            Some((schema, url)) => {
                command.args(["--store", "postgres", "--database-url", url, "--database-schema", schema]);
                command.args(["--database-pool-size", "4"]);
            }
            _ if options.in_memory => {
                command.arg("--in-memory");
            }
            _ => {}
        }
        if options.manual_clock {
            command.args(["--clock", "manual"]);
        }
        let child = command.stdin(Stdio::null()).spawn().expect("start postroom");
        let deadline = Instant::now() + Duration::from_secs(10);
        let address = loop {
            if let Ok(text) = std::fs::read_to_string(&address_file) {
                if text.ends_with('\n') {
                    break text.trim().to_string();
                }
            }
            assert!(Instant::now() < deadline, "the server did not write {}", address_file.display());
            std::thread::sleep(Duration::from_millis(10));
        };
        Self { child: Some(child), address, data_dir: data_dir.to_path_buf(), _temporary: None }
    }

    /// Process id of the server, or 0 once it was stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!("http://{}/000000000000/{name}", self.address)
    }

    pub fn client(&self) -> aws_sdk_sqs::Client {
        self.client_with_key("AKIDPOSTROOMTEST")
    }

    pub fn client_with_key(&self, access_key: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access_key, "secret", None, None, "test"))
            .endpoint_url(self.endpoint())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Moves the manual clock forward.
    pub async fn advance(&self, seconds: f64) {
        let response = reqwest::Client::new()
            .post(format!("{}/_postroom/clock", self.endpoint()))
            .body(format!("{{\"advance_seconds\": {seconds}}}"))
            .send()
            .await
            .expect("clock request");
        assert!(response.status().is_success(), "advancing the clock failed: {}", response.status());
    }

    /// Posts a Query protocol request and returns the status and body.
    pub async fn query(&self, path: &str, parameters: &[(&str, &str)]) -> (u16, String) {
        let body: String = form_body(parameters);
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.endpoint()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDPOSTROOMTEST/20261204/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body)
            .send()
            .await
            .expect("query request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("query body"))
    }

    /// Sends SIGKILL and waits for the process to end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        child.wait().expect("wait for the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// URL of the test database when the tests run on PostgreSQL.
pub fn postgres_url() -> Option<String> {
    if std::env::var("POSTROOM_TEST_STORE").as_deref() != Ok("postgres") {
        return None;
    }
    std::env::var("POSTROOM_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// Schema of the server on `data_dir` when the tests run on PostgreSQL.
fn schema_for(data_dir: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    postgres_url()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    Some(format!("e2e_{:016x}", hasher.finish()))
}

/// Returns a new schema name for a cluster test.
pub fn fresh_schema() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("cluster_{:x}_{}_{count}", nanos, std::process::id())
}

fn form_body(parameters: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in parameters {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}
