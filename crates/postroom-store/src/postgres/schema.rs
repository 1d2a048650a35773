//! Versioned schema migrations.
//!
//! `postroom_schema` records the version of the tables. Startup applies the
//! missing migrations in one transaction that locks that table, so nodes
//! starting together migrate once. Startup rejects a schema newer than this
//! binary supports.

use super::db_error;
use crate::StoreError;
use deadpool_postgres::Client;

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE queues (
    id BIGINT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes BYTEA NOT NULL,
    tags BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    last_modified_at BIGINT NOT NULL,
    deleted_at BIGINT,
    last_purged_at BIGINT,
    next_seq BIGINT NOT NULL
);
CREATE UNIQUE INDEX queues_live_key ON queues (account, region, name) WHERE deleted_at IS NULL;
CREATE INDEX queues_key ON queues (account, region, name);
CREATE SEQUENCE queue_ids;
CREATE TABLE messages (
    queue_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    content BYTEA NOT NULL,
    group_id TEXT,
    enqueued_at BIGINT NOT NULL,
    visible_at BIGINT NOT NULL,
    receive_count INTEGER NOT NULL,
    first_received_at BIGINT,
    received_at BIGINT,
    receipt_nonce BIGINT NOT NULL,
    PRIMARY KEY (queue_id, seq)
);
CREATE INDEX messages_visible ON messages (queue_id, visible_at);
CREATE INDEX messages_enqueued ON messages (queue_id, enqueued_at);
CREATE INDEX messages_group ON messages (queue_id, group_id, seq);
CREATE TABLE deduplication (
    queue_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (queue_id, key)
);
CREATE TABLE receive_attempts (
    queue_id BIGINT NOT NULL,
    attempt_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    claims BYTEA NOT NULL,
    PRIMARY KEY (queue_id, attempt_id)
);
CREATE TABLE move_tasks (
    task_id TEXT PRIMARY KEY,
    record BYTEA NOT NULL
);
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
"#, r#"
CREATE TABLE resources (
    kind TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (kind, key)
);
"#, r#"
CREATE SEQUENCE message_seqs;
SELECT setval('message_seqs', GREATEST(
    1,
    (SELECT max(next_seq) FROM queues),
    (SELECT max(seq) + 1 FROM messages)
));
"#];

/// Brings the schema to the latest version. Returns the version.
pub(super) async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS postroom_schema (version INTEGER NOT NULL)")
        .await
        .map_err(db_error)?;
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction.batch_execute("LOCK TABLE postroom_schema IN EXCLUSIVE MODE").await.map_err(db_error)?;
    let row = transaction.query_opt("SELECT max(version) FROM postroom_schema", &[]).await.map_err(db_error)?;
    let current: i32 = row.and_then(|row| row.get::<_, Option<i32>>(0)).unwrap_or(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(StoreError::Open(format!(
            "the database schema is at version {current}, newer than this postroom knows (version {known}); run a newer postroom"
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        transaction.batch_execute(migration).await.map_err(db_error)?;
        transaction.execute("INSERT INTO postroom_schema (version) VALUES ($1)", &[&version]).await.map_err(db_error)?;
        tracing::info!(version, "migrated the database schema");
    }
    transaction.commit().await.map_err(db_error)?;
    Ok(known)
}

pub(super) const LATEST_VERSION: i32 = MIGRATIONS.len() as i32;
