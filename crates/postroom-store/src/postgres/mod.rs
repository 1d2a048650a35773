//! The PostgreSQL backend: several stateless nodes share one database.
//!
//! Every operation is one transaction. Receives claim rows with
//! `FOR UPDATE SKIP LOCKED`, so concurrent receivers do not wait for each
//! other. Sends, FIFO receives and moves lock the queue row, which orders
//! sequence numbers and group locks across nodes. After a change that can
//! make a message receivable, the transaction calls `pg_notify`, and every
//! node's listener connection wakes its long polls; a long poll also looks
//! again every [`POLL_INTERVAL`] in case a notification was missed.
//!
//! The SQL sticks to a portable subset. The PostgreSQL-specific parts are
//! `LISTEN`/`pg_notify` (in `listen` and `notify`), `FOR UPDATE SKIP
//! LOCKED`, partial unique indexes and `LOCK TABLE` in the migration.

mod messages;
mod schema;

use crate::*;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{NoTls, Row};

/// Maximum time a long poll sleeps before it looks again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Connection settings.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`, or the key-value form.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Schema that contains the tables, created when missing.
    pub schema: String,
}

/// Tables in a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    channel: String,
    listener: Arc<Mutex<Option<ChangeListener>>>,
    listen_task: tokio::task::JoinHandle<()>,
}

/// Converts a database error, with the causes that its message leaves out,
/// because the bare message is often just `db error`.
pub(crate) fn db_error(error: impl std::error::Error) -> StoreError {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Unavailable(text)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serialize(value).map_err(|error| StoreError::Io(format!("encoding a row failed: {error}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    bincode::deserialize(bytes).map_err(|error| StoreError::Io(format!("a row could not be decoded: {error}")))
}

/// Converts a timestamp or count for a `BIGINT` column.
pub(crate) fn big(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PostgresStore {
    /// Connects, creates the schema when missing and migrates it.
    pub async fn connect(options: PostgresOptions) -> Result<Self, StoreError> {
        if !valid_schema_name(&options.schema) {
            return Err(StoreError::Open(format!(
                "invalid schema name {:?}: use lowercase letters, digits and underscores",
                options.schema
            )));
        }
        let mut config: tokio_postgres::Config =
            options.url.parse().map_err(|error| StoreError::Open(format!("invalid database URL: {error}")))?;
        config.options(format!("-c search_path={}", options.schema));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }

        // The schema must exist before a connection can use it as its path.
        let (client, connection) = config.connect(NoTls).await.map_err(|e| StoreError::Open(e.to_string()))?;
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", options.schema))
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        drop(client);
        let _ = driver.await;

        let manager = Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|error| StoreError::Open(error.to_string()))?;
        let mut client = pool.get().await.map_err(|e| StoreError::Open(e.to_string()))?;
        let version = schema::migrate(&mut client).await?;
        drop(client);
        tracing::info!(schema = %options.schema, version, "connected to PostgreSQL");

        let channel = format!("postroom_wake_{}", options.schema);
        let listener: Arc<Mutex<Option<ChangeListener>>> = Arc::default();
        let listen_task = tokio::spawn(listen(config, channel.clone(), listener.clone()));
        Ok(Self { pool, channel, listener, listen_task })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(db_error)
    }

    /// Schema version this binary migrates to.
    pub fn schema_version() -> i32 {
        schema::LATEST_VERSION
    }

    fn queue_from_row(row: &Row) -> Result<QueueRecord, StoreError> {
        Ok(QueueRecord {
            id: QueueId(unsigned(row.get("id"))),
            key: QueueKey { account: row.get("account"), region: row.get("region"), name: row.get("name") },
            attributes: decode(row.get::<_, &[u8]>("attributes"))?,
            tags: decode(row.get::<_, &[u8]>("tags"))?,
            created_at: unsigned(row.get("created_at")),
            last_modified_at: unsigned(row.get("last_modified_at")),
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listen_task.abort();
    }
}

/// Receives notifications on a connection of its own and passes them to
/// the listener, reconnecting after a failure.
async fn listen(config: tokio_postgres::Config, channel: String, listener: Arc<Mutex<Option<ChangeListener>>>) {
    use futures_util::StreamExt;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                                if sender.send(notification.payload().to_string()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(error) => {
                                let error = db_error(error);
                                tracing::warn!(%error, "the notification connection failed");
                                break;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {channel}")).await {
                    Ok(()) => {
                        while let Some(payload) = receiver.recv().await {
                            let Ok(id) = payload.parse::<u64>() else { continue };
                            let current = listener.lock().clone();
                            if let Some(callback) = current {
                                callback(QueueId(id));
                            }
                        }
                    }
                    Err(error) => {
                        let error = db_error(error);
                        tracing::warn!(%error, "subscribing to notifications failed");
                    }
                }
                drop(client);
                driver.abort();
            }
            Err(error) => {
                let error = db_error(error);
                tracing::warn!(%error, "connecting for notifications failed; long polls fall back to polling");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Wakes the long polls of `queues` on every node. It runs after the change
/// has committed, outside its transaction, because a transaction that
/// notifies holds a database-wide lock through its commit, which would put
/// every commit, fsync included, in one line. A failed wake-up is logged
/// and not returned: the change is committed, and other nodes find it by
/// their fallback poll.
async fn wake(client: &deadpool_postgres::Client, channel: &str, queues: &[QueueId]) {
    if queues.is_empty() {
        return;
    }
    let payloads: Vec<String> = queues.iter().map(|queue| queue.0.to_string()).collect();
    let result =
        client.execute("SELECT pg_notify($1, payload) FROM unnest($2::TEXT[]) AS payload", &[&channel, &payloads]).await;
    if let Err(error) = result {
        tracing::warn!(%error, ?queues, "notifying other nodes of a change failed; they see it at their next poll");
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn set_change_listener(&self, listener: ChangeListener) {
        *self.listener.lock() = Some(listener);
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(POLL_INTERVAL)
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now: Timestamp, expires_at: Timestamp) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
                 RETURNING holder",
                &[&name, &holder, &big(expires_at), &big(now)],
            )
            .await
            .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn create_queue(&self, request: CreateQueueRequest) -> Result<CreateQueueOutcome, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let key = &request.key;
        let live = transaction
            .query_opt(
                "SELECT * FROM queues WHERE account = $1 AND region = $2 AND name = $3 AND deleted_at IS NULL",
                &[&key.account, &key.region, &key.name],
            )
            .await
            .map_err(db_error)?;
        if let Some(row) = live {
            return Ok(CreateQueueOutcome::Exists(Self::queue_from_row(&row)?));
        }
        let deleted = transaction
            .query_one(
                "SELECT max(deleted_at) FROM queues WHERE account = $1 AND region = $2 AND name = $3",
                &[&key.account, &key.region, &key.name],
            )
            .await
            .map_err(db_error)?;
        if let Some(deleted_at) = deleted.get::<_, Option<i64>>(0).map(unsigned) {
            if deleted_at > request.deleted_after {
                return Ok(CreateQueueOutcome::DeletedRecently(deleted_at));
            }
        }
        let inserted = transaction
            .query_opt(
                "INSERT INTO queues (id, account, region, name, attributes, tags, created_at, last_modified_at, next_seq) \
                 VALUES (nextval('queue_ids'), $1, $2, $3, $4, $5, $6, $6, 1) \
                 ON CONFLICT (account, region, name) WHERE deleted_at IS NULL DO NOTHING RETURNING *",
                &[&key.account, &key.region, &key.name, &encode(&request.attributes)?, &encode(&request.tags)?, &big(request.now)],
            )
            .await
            .map_err(db_error)?;
        let outcome = match inserted {
            Some(row) => CreateQueueOutcome::Created(Self::queue_from_row(&row)?),
            None => {
                // Another node created it between the check and the insert.
                let row = transaction
                    .query_one(
                        "SELECT * FROM queues WHERE account = $1 AND region = $2 AND name = $3 AND deleted_at IS NULL",
                        &[&key.account, &key.region, &key.name],
                    )
                    .await
                    .map_err(db_error)?;
                CreateQueueOutcome::Exists(Self::queue_from_row(&row)?)
            }
        };
        transaction.commit().await.map_err(db_error)?;
        Ok(outcome)
    }

    async fn delete_queue(&self, key: &QueueKey, now: Timestamp) -> Result<Option<QueueRecord>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let row = transaction
            .query_opt(
                "UPDATE queues SET deleted_at = $4 WHERE account = $1 AND region = $2 AND name = $3 AND deleted_at IS NULL RETURNING *",
                &[&key.account, &key.region, &key.name, &big(now)],
            )
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let record = Self::queue_from_row(&row)?;
        let id = big(record.id.0);
        for table in ["messages", "deduplication", "receive_attempts"] {
            transaction.execute(&format!("DELETE FROM {table} WHERE queue_id = $1"), &[&id]).await.map_err(db_error)?;
        }
        transaction.commit().await.map_err(db_error)?;
        wake(&client, &self.channel, &[record.id]).await;
        Ok(Some(record))
    }

    async fn get_queue(&self, key: &QueueKey) -> Result<Option<Arc<QueueRecord>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT * FROM queues WHERE account = $1 AND region = $2 AND name = $3 AND deleted_at IS NULL",
                &[&key.account, &key.region, &key.name],
            )
            .await
            .map_err(db_error)?;
        Ok(row.as_ref().map(Self::queue_from_row).transpose()?.map(Arc::new))
    }

    async fn list_queues(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, StoreError> {
        let client = self.client().await?;
        // Ordering by bytes keeps the order of the embedded store.
        let rows = client
            .query(
                "SELECT * FROM queues WHERE account = $1 AND region = $2 AND deleted_at IS NULL \
                 AND substr(name, 1, $3) = $4 AND name COLLATE \"C\" > $5 \
                 ORDER BY name COLLATE \"C\" LIMIT $6",
                &[
                    &account,
                    &region,
                    &(prefix.chars().count() as i32),
                    &prefix,
                    &after.unwrap_or(""),
                    &big(limit.min(i64::MAX as usize) as u64),
                ],
            )
            .await
            .map_err(db_error)?;
        rows.iter().map(Self::queue_from_row).collect()
    }

    async fn all_queues(&self) -> Result<Vec<QueueRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT * FROM queues WHERE deleted_at IS NULL \
                 ORDER BY account COLLATE \"C\", region COLLATE \"C\", name COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(db_error)?;
        rows.iter().map(Self::queue_from_row).collect()
    }

    async fn update_queue(&self, key: &QueueKey, update: QueueUpdate) -> Result<Option<QueueRecord>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let row = transaction
            .query_opt(
                "SELECT * FROM queues WHERE account = $1 AND region = $2 AND name = $3 AND deleted_at IS NULL FOR UPDATE",
                &[&key.account, &key.region, &key.name],
            )
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut record = Self::queue_from_row(&row)?;
        record.apply(update);
        transaction
            .execute(
                "UPDATE queues SET attributes = $2, tags = $3, last_modified_at = $4 WHERE id = $1",
                &[&big(record.id.0), &encode(&record.attributes)?, &encode(&record.tags)?, &big(record.last_modified_at)],
            )
            .await
            .map_err(db_error)?;
        transaction.commit().await.map_err(db_error)?;
        wake(&client, &self.channel, &[record.id]).await;
        Ok(Some(record))
    }

    async fn send_messages(&self, queue: QueueId, messages: Vec<NewMessage>) -> Result<Vec<SendOutcome>, StoreError> {
        self.send(queue, messages).await
    }

    async fn receive_messages(&self, queue: QueueId, request: ReceiveRequest<'_>) -> Result<ReceiveOutcome, StoreError> {
        self.receive(queue, request).await
    }

    async fn delete_messages(
        &self,
        queue: QueueId,
        receipts: &[Receipt],
        in_flight_at: Option<Timestamp>,
    ) -> Result<Vec<DeleteOutcome>, StoreError> {
        self.delete(queue, receipts, in_flight_at).await
    }

    async fn change_visibility(
        &self,
        queue: QueueId,
        changes: &[VisibilityChange],
    ) -> Result<Vec<ChangeVisibilityOutcome>, StoreError> {
        self.change(queue, changes).await
    }

    async fn purge_queue(&self, queue: QueueId, now: Timestamp, cooldown_ms: u64) -> Result<PurgeOutcome, StoreError> {
        self.purge(queue, now, cooldown_ms).await
    }

    async fn expire_messages(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<u64, StoreError> {
        let Some(cutoff) = now.checked_sub(retention_ms) else { return Ok(0) };
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM messages WHERE queue_id = $1 AND enqueued_at <= $2", &[&big(queue.0), &big(cutoff)])
            .await
            .map_err(db_error)?;
        Ok(deleted)
    }

    async fn queue_counts(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<QueueCounts, StoreError> {
        self.counts(queue, now, retention_ms).await
    }

    async fn movable_messages(
        &self,
        queue: QueueId,
        now: Timestamp,
        up_to_seq: u64,
        max: usize,
    ) -> Result<Vec<MovableMessage>, StoreError> {
        self.movable(queue, now, up_to_seq, max).await
    }

    async fn move_messages(&self, request: MoveRequest) -> Result<usize, StoreError> {
        self.transfer(request).await
    }

    async fn last_seq(&self, queue: QueueId) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // The sequence is shared by every queue, so its last value bounds
        // the sequence numbers of this queue's messages.
        let row = client
            .query_opt(
                "SELECT (SELECT last_value FROM message_seqs) FROM queues WHERE id = $1 AND deleted_at IS NULL",
                &[&big(queue.0)],
            )
            .await
            .map_err(db_error)?
            .ok_or(StoreError::QueueNotFound(queue))?;
        Ok(unsigned(row.get::<_, i64>(0)))
    }

    async fn put_move_task(&self, task: MoveTaskRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO move_tasks (task_id, record) VALUES ($1, $2) \
                 ON CONFLICT (task_id) DO UPDATE SET record = excluded.record",
                &[&task.task_id, &encode(&task)?],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn move_tasks(&self) -> Result<Vec<MoveTaskRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("SELECT record FROM move_tasks ORDER BY task_id", &[]).await.map_err(db_error)?;
        rows.iter().map(|row| decode(row.get::<_, &[u8]>(0))).collect()
    }

    async fn create_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let created = client
            .execute(
                "INSERT INTO resources (kind, key, value) VALUES ($1, $2, $3) ON CONFLICT (kind, key) DO NOTHING",
                &[&kind, &key, &value],
            )
            .await
            .map_err(db_error)?;
        Ok(created > 0)
    }

    async fn put_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO resources (kind, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                &[&kind, &key, &value],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn get_resource(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM resources WHERE kind = $1 AND key = $2", &[&kind, &key])
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| row.get::<_, Vec<u8>>(0)))
    }

    async fn delete_resource(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM resources WHERE kind = $1 AND key = $2", &[&kind, &key])
            .await
            .map_err(db_error)?;
        Ok(deleted > 0)
    }

    async fn list_resources(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, value FROM resources WHERE kind = $1 AND substr(key, 1, $2) = $3 ORDER BY key",
                &[&kind, &(prefix.chars().count() as i32), &prefix],
            )
            .await
            .map_err(db_error)?;
        Ok(rows.iter().map(|row| (row.get::<_, String>(0), row.get::<_, Vec<u8>>(1))).collect())
    }

    async fn reset(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .batch_execute("TRUNCATE queues, messages, deduplication, receive_attempts, move_tasks, leases, resources")
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every acknowledged change was committed.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// URL of a database for tests, from `POSTROOM_TEST_DATABASE_URL`.
    /// Without it the PostgreSQL tests are skipped, unless
    /// `POSTROOM_REQUIRE_POSTGRES=1` makes that an error.
    fn test_database_url() -> Option<String> {
        match std::env::var("POSTROOM_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var("POSTROOM_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "POSTROOM_REQUIRE_POSTGRES=1 but POSTROOM_TEST_DATABASE_URL is not set"
                );
                eprintln!("skipped: set POSTROOM_TEST_DATABASE_URL to run the PostgreSQL tests");
                None
            }
        }
    }

    async fn fresh_store(url: &str) -> PostgresStore {
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        PostgresStore::connect(PostgresOptions { url: url.to_string(), pool_size: 4, schema }).await.expect("connect")
    }

    #[tokio::test]
    async fn conformance_postgres() {
        let Some(url) = test_database_url() else { return };
        crate::conformance::run_all(|| {
            let url = url.clone();
            async move { Arc::new(fresh_store(&url).await) as Arc<dyn Store> }
        })
        .await;
    }

    #[tokio::test]
    async fn newer_schema_is_rejected() {
        let Some(url) = test_database_url() else { return };
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let options = PostgresOptions { url: url.clone(), pool_size: 2, schema: schema.clone() };
        let store = PostgresStore::connect(options.clone()).await.expect("connect");
        let client = store.client().await.expect("client");
        client
            .execute("INSERT INTO postroom_schema (version) VALUES ($1)", &[&(PostgresStore::schema_version() + 1)])
            .await
            .expect("insert version");
        drop(client);
        drop(store);
        let error = PostgresStore::connect(options).await.err().expect("connect must fail");
        assert!(error.to_string().contains("newer than this postroom"), "{error}");
    }

    #[tokio::test]
    async fn notifications_reach_other_stores() {
        let Some(url) = test_database_url() else { return };
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let options = PostgresOptions { url, pool_size: 2, schema };
        let writer = PostgresStore::connect(options.clone()).await.expect("connect writer");
        let reader = PostgresStore::connect(options).await.expect("connect reader");
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        reader.set_change_listener(Arc::new(move |queue| {
            let _ = sender.send(queue);
        }));
        let queue = crate::conformance::create(&writer, &QueueKey {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            name: "orders".into(),
        })
        .await;
        // The listener connects in the background; send until it hears one.
        let mut notified = None;
        for _ in 0..50 {
            writer.send_messages(queue, crate::conformance::messages(1, 0)).await.expect("send");
            if let Ok(Some(id)) = tokio::time::timeout(Duration::from_millis(100), receiver.recv()).await {
                notified = Some(id);
                break;
            }
        }
        assert_eq!(notified, Some(queue));
    }
}
