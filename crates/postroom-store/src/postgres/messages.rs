//! Message operations of the PostgreSQL backend.

use super::{big, db_error, decode, encode, unsigned, wake, PostgresStore};
use crate::*;
use deadpool_postgres::Transaction;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::Row;

/// A claim of one message by a receive, stored with its attempt.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Claim {
    seq: u64,
    nonce: u64,
    visible_at: Timestamp,
}

/// Returns the enqueue time at or before which messages have expired, or
/// `None` when nothing can have expired yet.
fn retention_cutoff(now: Timestamp, retention_ms: u64) -> Option<i64> {
    now.checked_sub(retention_ms).map(big)
}

fn random_nonce() -> u64 {
    // A positive BIGINT that is never 0, the value of "never received".
    (uuid::Uuid::new_v4().as_u64_pair().0 >> 1).max(1)
}

/// Columns of `messages` in the order [`insert_message`] takes them.
const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (queue_id, seq, content, group_id, enqueued_at, visible_at, receive_count, first_received_at, received_at, receipt_nonce) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

struct MessageRow {
    content: Arc<MessageContent>,
    enqueued_at: Timestamp,
    receive_count: u32,
    first_received_at: Option<Timestamp>,
}

impl MessageRow {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            content: Arc::new(decode(row.get::<_, &[u8]>("content"))?),
            enqueued_at: unsigned(row.get("enqueued_at")),
            receive_count: u32::try_from(row.get::<_, i32>("receive_count")).unwrap_or(0),
            first_received_at: row.get::<_, Option<i64>>("first_received_at").map(unsigned),
        })
    }
}

/// Locks a live queue's row, which orders the changes to its message groups
/// and dead-letter moves.
async fn lock_queue(transaction: &Transaction<'_>, queue: QueueId) -> Result<(), StoreError> {
    transaction
        .query_opt("SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", &[&big(queue.0)])
        .await
        .map_err(db_error)?
        .ok_or(StoreError::QueueNotFound(queue))?;
    Ok(())
}

/// Takes `count` sequence numbers from the sequence that every queue
/// shares. Numbers increase in the order they are taken, so the messages of
/// a locked queue get them in the order of its changes. Standard queues take
/// them without a lock, so that their sends commit side by side.
async fn next_seqs(transaction: &Transaction<'_>, count: usize) -> Result<Vec<u64>, StoreError> {
    let rows = transaction
        .query("SELECT nextval('message_seqs') FROM generate_series(1, $1)", &[&(count as i32)])
        .await
        .map_err(db_error)?;
    if rows.len() != count {
        return Err(StoreError::Io(format!(
            "the database returned {} sequence numbers instead of {count}",
            rows.len()
        )));
    }
    Ok(rows.iter().map(|row| unsigned(row.get(0))).collect())
}

/// A message row to insert, with no receipt.
struct NewRow<'a> {
    queue: QueueId,
    seq: u64,
    content: &'a MessageContent,
    enqueued_at: Timestamp,
    visible_at: Timestamp,
    receive_count: u32,
    first_received_at: Option<Timestamp>,
}

async fn insert_message(transaction: &Transaction<'_>, row: NewRow<'_>) -> Result<(), StoreError> {
    let NewRow { queue, seq, content, enqueued_at, visible_at, receive_count, first_received_at } = row;
    transaction
        .execute(
            INSERT_MESSAGE,
            &[
                &big(queue.0),
                &big(seq),
                &encode(content)?,
                &content.message_group_id,
                &big(enqueued_at),
                &big(visible_at),
                &(receive_count as i32),
                &first_received_at.map(big),
                &None::<i64>,
                &0i64,
            ],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn ensure_queue(transaction: &Transaction<'_>, queue: QueueId) -> Result<(), StoreError> {
    let exists = transaction
        .query_opt("SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL", &[&big(queue.0)])
        .await
        .map_err(db_error)?;
    exists.map(|_| ()).ok_or(StoreError::QueueNotFound(queue))
}

impl PostgresStore {
    pub(super) async fn send(&self, queue: QueueId, messages: Vec<NewMessage>) -> Result<Vec<SendOutcome>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        // Groups and deduplication need the sends of a queue in one line.
        // Other sends only check that the queue exists.
        let ordered = messages.iter().any(|m| m.deduplication.is_some() || m.content.message_group_id.is_some());
        if ordered {
            lock_queue(&transaction, queue).await?;
        } else {
            ensure_queue(&transaction, queue).await?;
        }
        let seqs = next_seqs(&transaction, messages.len()).await?;
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut enqueued = false;
        if let Some(first) = messages.iter().find(|message| message.deduplication.is_some()) {
            transaction
                .execute(
                    "DELETE FROM deduplication WHERE queue_id = $1 AND expires_at <= $2",
                    &[&big(queue.0), &big(first.content.sent_at)],
                )
                .await
                .map_err(db_error)?;
        }
        for (message, seq) in messages.into_iter().zip(seqs) {
            if let Some(deduplication) = &message.deduplication {
                let original = transaction
                    .query_opt(
                        "SELECT seq, message_id FROM deduplication WHERE queue_id = $1 AND key = $2 AND expires_at > $3",
                        &[&big(queue.0), &deduplication.key, &big(message.content.sent_at)],
                    )
                    .await
                    .map_err(db_error)?;
                if let Some(original) = original {
                    outcomes.push(SendOutcome::Duplicate { seq: unsigned(original.get(0)), message_id: original.get(1) });
                    continue;
                }
            }
            let content = &message.content;
            let row = NewRow {
                queue,
                seq,
                content,
                enqueued_at: content.sent_at,
                visible_at: message.visible_at,
                receive_count: 0,
                first_received_at: None,
            };
            insert_message(&transaction, row).await?;
            if let Some(deduplication) = &message.deduplication {
                transaction
                    .execute(
                        "INSERT INTO deduplication (queue_id, key, expires_at, seq, message_id) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (queue_id, key) DO UPDATE SET expires_at = excluded.expires_at, seq = excluded.seq, \
                         message_id = excluded.message_id",
                        &[&big(queue.0), &deduplication.key, &big(deduplication.expires_at), &big(seq), &content.message_id],
                    )
                    .await
                    .map_err(db_error)?;
            }
            outcomes.push(SendOutcome::Enqueued { seq });
            enqueued = true;
        }
        transaction.commit().await.map_err(db_error)?;
        if enqueued {
            wake(&client, &self.channel, &[queue]).await;
        }
        Ok(outcomes)
    }

    pub(super) async fn receive(&self, queue: QueueId, request: ReceiveRequest<'_>) -> Result<ReceiveOutcome, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let id = big(queue.0);
        let now = request.now;
        let dead_letter = request.redrive.filter(|redrive| redrive.dead_letter_queue != queue);

        // FIFO receives and moves to a dead-letter queue lock the queue rows
        // in id order, as `transfer` does, so two transactions cannot
        // deadlock on the same pair of rows.
        let mut locked = vec![queue];
        if let Some(redrive) = dead_letter {
            locked.push(redrive.dead_letter_queue);
        }
        locked.sort();
        let mut dead_letter_exists = false;
        if request.fifo || dead_letter.is_some() {
            for locked_queue in &locked {
                match lock_queue(&transaction, *locked_queue).await {
                    Ok(()) => dead_letter_exists |= *locked_queue != queue,
                    Err(StoreError::QueueNotFound(missing)) if missing != queue => {}
                    Err(error) => return Err(error),
                }
            }
        } else {
            ensure_queue(&transaction, queue).await?;
        }

        if let Some(cutoff) = retention_cutoff(now, request.retention_ms) {
            transaction
                .execute("DELETE FROM messages WHERE queue_id = $1 AND enqueued_at <= $2", &[&id, &cutoff])
                .await
                .map_err(db_error)?;
        }
        let visible_at = now.saturating_add(request.visibility_timeout_ms);
        let mut outcome = ReceiveOutcome::default();

        let repeated = match request.attempt_id {
            Some(attempt) => self.repeatable_attempt(&transaction, queue, attempt, now, request.attempt_window_ms).await?,
            None => None,
        };
        let claims = match repeated {
            Some(earlier) => {
                let mut claims = Vec::with_capacity(earlier.len());
                for claim in earlier {
                    transaction
                        .execute(
                            "UPDATE messages SET visible_at = $3 WHERE queue_id = $1 AND seq = $2",
                            &[&id, &big(claim.seq), &big(visible_at)],
                        )
                        .await
                        .map_err(db_error)?;
                    claims.push(Claim { visible_at, ..claim });
                }
                claims
            }
            None => {
                let mut claims = Vec::new();
                for _ in 0..16 {
                    let wanted = request.max_messages - claims.len();
                    let candidates = if request.fifo {
                        self.fifo_candidates(&transaction, queue, now, wanted).await?
                    } else {
                        transaction
                            .query(
                                "SELECT seq, receive_count FROM messages WHERE queue_id = $1 AND visible_at <= $2 \
                                 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED",
                                &[&id, &big(now), &(wanted as i64)],
                            )
                            .await
                            .map_err(db_error)?
                            .iter()
                            .map(|row| (unsigned(row.get(0)), u32::try_from(row.get::<_, i32>(1)).unwrap_or(0)))
                            .collect()
                    };
                    if candidates.is_empty() {
                        break;
                    }
                    let (exhausted, fresh): (Vec<_>, Vec<_>) = candidates
                        .into_iter()
                        .partition(|(_, receive_count)| dead_letter.is_some_and(|r| *receive_count >= r.max_receive_count));
                    if let Some(redrive) = dead_letter.filter(|_| dead_letter_exists) {
                        for (seq, _) in &exhausted {
                            self.redrive_one(&transaction, queue, *seq, redrive, now).await?;
                        }
                        outcome.moved_to_dead_letter_queue += exhausted.len();
                    }
                    let round: Vec<Claim> = fresh
                        .into_iter()
                        .map(|(seq, _)| Claim { seq, nonce: random_nonce(), visible_at })
                        .collect();
                    let seqs: Vec<i64> = round.iter().map(|claim| big(claim.seq)).collect();
                    let nonces: Vec<i64> = round.iter().map(|claim| big(claim.nonce)).collect();
                    transaction
                        .execute(
                            "UPDATE messages AS m SET receive_count = receive_count + 1, \
                             first_received_at = COALESCE(first_received_at, $2), received_at = $2, \
                             receipt_nonce = c.nonce, visible_at = $3 \
                             FROM unnest($4::BIGINT[], $5::BIGINT[]) AS c(seq, nonce) \
                             WHERE m.queue_id = $1 AND m.seq = c.seq",
                            &[&id, &big(now), &big(visible_at), &seqs, &nonces],
                        )
                        .await
                        .map_err(db_error)?;
                    claims.extend(round);
                    if claims.len() >= request.max_messages || exhausted.is_empty() {
                        break;
                    }
                }
                claims
            }
        };
        // An attempt that received nothing is not repeated: a retry receives
        // anew.
        if let Some(attempt) = request.attempt_id.filter(|_| !claims.is_empty()) {
            transaction
                .execute(
                    "INSERT INTO receive_attempts (queue_id, attempt_id, started_at, claims) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (queue_id, attempt_id) DO UPDATE SET started_at = excluded.started_at, claims = excluded.claims",
                    &[&id, &attempt, &big(now), &encode(&claims)?],
                )
                .await
                .map_err(db_error)?;
        }
        let seqs: Vec<i64> = claims.iter().map(|claim| big(claim.seq)).collect();
        let rows = transaction
            .query("SELECT * FROM messages WHERE queue_id = $1 AND seq = ANY($2)", &[&id, &seqs])
            .await
            .map_err(db_error)?;
        let mut rows: HashMap<u64, MessageRow> = rows
            .iter()
            .map(|row| Ok((unsigned(row.get("seq")), MessageRow::from_row(row)?)))
            .collect::<Result<_, StoreError>>()?;
        for claim in &claims {
            let Some(message) = rows.remove(&claim.seq) else { continue };
            outcome.messages.push(ReceivedMessage {
                seq: claim.seq,
                content: message.content,
                receipt: Receipt { seq: claim.seq, nonce: claim.nonce },
                receive_count: message.receive_count,
                first_received_at: message.first_received_at.unwrap_or(now),
            });
        }
        let mut woken = Vec::new();
        if request.visibility_timeout_ms == 0 && !claims.is_empty() {
            woken.push(queue);
        }
        if let Some(redrive) = dead_letter.filter(|_| outcome.moved_to_dead_letter_queue > 0) {
            woken.push(redrive.dead_letter_queue);
        }
        let next = transaction
            .query_one("SELECT min(visible_at) FROM messages WHERE queue_id = $1 AND visible_at > $2", &[&id, &big(now)])
            .await
            .map_err(db_error)?;
        outcome.next_visible_at = next.get::<_, Option<i64>>(0).map(unsigned);
        transaction.commit().await.map_err(db_error)?;
        wake(&client, &self.channel, &woken).await;
        Ok(outcome)
    }

    /// Returns the claims of an earlier attempt with this id when it is
    /// within the window and none of its messages changed since.
    async fn repeatable_attempt(
        &self,
        transaction: &Transaction<'_>,
        queue: QueueId,
        attempt: &str,
        now: Timestamp,
        window_ms: u64,
    ) -> Result<Option<Vec<Claim>>, StoreError> {
        let id = big(queue.0);
        let row = transaction
            .query_opt(
                "SELECT started_at, claims FROM receive_attempts WHERE queue_id = $1 AND attempt_id = $2",
                &[&id, &attempt],
            )
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        if unsigned(row.get(0)).saturating_add(window_ms) <= now {
            return Ok(None);
        }
        let claims: Vec<Claim> = decode(row.get::<_, &[u8]>(1))?;
        if claims.is_empty() {
            return Ok(None);
        }
        for claim in &claims {
            let current = transaction
                .query_opt(
                    "SELECT receipt_nonce, visible_at FROM messages WHERE queue_id = $1 AND seq = $2 FOR UPDATE",
                    &[&id, &big(claim.seq)],
                )
                .await
                .map_err(db_error)?;
            let unchanged = current.is_some_and(|row| {
                let visible_at = unsigned(row.get(1));
                unsigned(row.get(0)) == claim.nonce && visible_at == claim.visible_at && visible_at > now
            });
            if !unchanged {
                return Ok(None);
            }
        }
        Ok(Some(claims))
    }

    /// Picks FIFO candidates: groups with no message in flight, by the age of
    /// their first message, and from each the run of visible messages from
    /// its start. The caller holds the queue row lock.
    async fn fifo_candidates(
        &self,
        transaction: &Transaction<'_>,
        queue: QueueId,
        now: Timestamp,
        wanted: usize,
    ) -> Result<Vec<(u64, u32)>, StoreError> {
        let id = big(queue.0);
        let heads = transaction
            .query(
                "SELECT h.group_id, min(h.seq) AS head FROM messages h WHERE h.queue_id = $1 AND h.group_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM messages f WHERE f.queue_id = h.queue_id AND f.group_id = h.group_id \
                                 AND f.receive_count > 0 AND f.visible_at > $2) \
                 GROUP BY h.group_id ORDER BY head",
                &[&id, &big(now)],
            )
            .await
            .map_err(db_error)?;
        let mut selected = Vec::new();
        for head in heads {
            if selected.len() >= wanted {
                break;
            }
            let group: String = head.get(0);
            let run = transaction
                .query(
                    "SELECT seq, receive_count, visible_at FROM messages WHERE queue_id = $1 AND group_id = $2 \
                     ORDER BY seq LIMIT $3",
                    &[&id, &group, &((wanted - selected.len()) as i64)],
                )
                .await
                .map_err(db_error)?;
            for row in run {
                if unsigned(row.get(2)) > now {
                    break;
                }
                selected.push((unsigned(row.get(0)), u32::try_from(row.get::<_, i32>(1)).unwrap_or(0)));
            }
        }
        Ok(selected)
    }

    /// Moves one exhausted message to the dead-letter queue.
    async fn redrive_one(
        &self,
        transaction: &Transaction<'_>,
        queue: QueueId,
        seq: u64,
        redrive: &Redrive,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let row = transaction
            .query_one("DELETE FROM messages WHERE queue_id = $1 AND seq = $2 RETURNING *", &[&big(queue.0), &big(seq)])
            .await
            .map_err(db_error)?;
        let message = MessageRow::from_row(&row)?;
        let mut content = (*message.content).clone();
        content.dead_letter_source_arn = Some(redrive.source_arn.clone());
        let enqueued_at = if redrive.reset_enqueue_time { now } else { message.enqueued_at };
        let seqs = next_seqs(transaction, 1).await?;
        let row = NewRow {
            queue: redrive.dead_letter_queue,
            seq: seqs[0],
            content: &content,
            enqueued_at,
            visible_at: now,
            receive_count: message.receive_count,
            first_received_at: message.first_received_at,
        };
        insert_message(transaction, row).await?;
        Ok(())
    }

    pub(super) async fn delete(
        &self,
        queue: QueueId,
        receipts: &[Receipt],
        in_flight_at: Option<Timestamp>,
    ) -> Result<Vec<DeleteOutcome>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        ensure_queue(&transaction, queue).await?;
        // Without a FIFO check, every visibility instant is "in flight".
        let in_flight_after = in_flight_at.map_or(-1, big);
        let mut outcomes = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            let deleted = if receipt.nonce == 0 {
                0
            } else {
                transaction
                    .execute(
                        "DELETE FROM messages WHERE queue_id = $1 AND seq = $2 AND receipt_nonce = $3 AND visible_at > $4",
                        &[&big(queue.0), &big(receipt.seq), &big(receipt.nonce), &in_flight_after],
                    )
                    .await
                    .map_err(db_error)?
            };
            let outcome = if deleted > 0 {
                DeleteOutcome::Deleted
            } else {
                let current = transaction
                    .query_opt("SELECT receipt_nonce FROM messages WHERE queue_id = $1 AND seq = $2", &[&big(queue.0), &big(receipt.seq)])
                    .await
                    .map_err(db_error)?;
                match current {
                    None => DeleteOutcome::NotFound,
                    Some(row) if receipt.nonce != 0 && unsigned(row.get(0)) == receipt.nonce => DeleteOutcome::NotInFlight,
                    Some(_) => DeleteOutcome::Stale,
                }
            };
            outcomes.push(outcome);
        }
        transaction.commit().await.map_err(db_error)?;
        Ok(outcomes)
    }

    pub(super) async fn change(
        &self,
        queue: QueueId,
        changes: &[VisibilityChange],
    ) -> Result<Vec<ChangeVisibilityOutcome>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        ensure_queue(&transaction, queue).await?;
        let mut outcomes = Vec::with_capacity(changes.len());
        let mut woken = false;
        for change in changes {
            let row = transaction
                .query_opt(
                    "SELECT receipt_nonce, visible_at, receive_count, received_at FROM messages \
                     WHERE queue_id = $1 AND seq = $2 FOR UPDATE",
                    &[&big(queue.0), &big(change.receipt.seq)],
                )
                .await
                .map_err(db_error)?;
            let outcome = match row {
                None => ChangeVisibilityOutcome::NotFound,
                Some(row) if change.receipt.nonce == 0 || unsigned(row.get(0)) != change.receipt.nonce => {
                    ChangeVisibilityOutcome::Stale
                }
                Some(row) if row.get::<_, i32>(2) == 0 || unsigned(row.get(1)) <= change.now => {
                    ChangeVisibilityOutcome::NotInFlight
                }
                Some(row) => {
                    let received_at = row.get::<_, Option<i64>>(3).map(unsigned).unwrap_or(change.now);
                    let visible_at = change.now.saturating_add(change.visibility_timeout_ms);
                    if visible_at.saturating_sub(received_at) > change.max_total_ms {
                        ChangeVisibilityOutcome::LimitExceeded
                    } else {
                        transaction
                            .execute(
                                "UPDATE messages SET visible_at = $3 WHERE queue_id = $1 AND seq = $2",
                                &[&big(queue.0), &big(change.receipt.seq), &big(visible_at)],
                            )
                            .await
                            .map_err(db_error)?;
                        woken |= visible_at <= change.now;
                        ChangeVisibilityOutcome::Changed
                    }
                }
            };
            outcomes.push(outcome);
        }
        transaction.commit().await.map_err(db_error)?;
        if woken {
            wake(&client, &self.channel, &[queue]).await;
        }
        Ok(outcomes)
    }

    pub(super) async fn purge(&self, queue: QueueId, now: Timestamp, cooldown_ms: u64) -> Result<PurgeOutcome, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let row = transaction
            .query_opt("SELECT last_purged_at FROM queues WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", &[&big(queue.0)])
            .await
            .map_err(db_error)?
            .ok_or(StoreError::QueueNotFound(queue))?;
        if let Some(since) = row.get::<_, Option<i64>>(0).map(unsigned) {
            if now < since.saturating_add(cooldown_ms) {
                return Ok(PurgeOutcome::InProgress { since });
            }
        }
        let count = transaction.execute("DELETE FROM messages WHERE queue_id = $1", &[&big(queue.0)]).await.map_err(db_error)?;
        transaction.execute("DELETE FROM receive_attempts WHERE queue_id = $1", &[&big(queue.0)]).await.map_err(db_error)?;
        transaction
            .execute("UPDATE queues SET last_purged_at = $2 WHERE id = $1", &[&big(queue.0), &big(now)])
            .await
            .map_err(db_error)?;
        transaction.commit().await.map_err(db_error)?;
        Ok(PurgeOutcome::Purged { count })
    }

    pub(super) async fn counts(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<QueueCounts, StoreError> {
        let client = self.client().await?;
        client
            .query_opt("SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL", &[&big(queue.0)])
            .await
            .map_err(db_error)?
            .ok_or(StoreError::QueueNotFound(queue))?;
        let cutoff = retention_cutoff(now, retention_ms).unwrap_or(-1);
        let row = client
            .query_one(
                "SELECT \
                 COALESCE(SUM(CASE WHEN visible_at <= $2 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN visible_at > $2 AND receive_count > 0 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN visible_at > $2 AND receive_count = 0 THEN 1 ELSE 0 END), 0) \
                 FROM messages WHERE queue_id = $1 AND enqueued_at > $3",
                &[&big(queue.0), &big(now), &cutoff],
            )
            .await
            .map_err(db_error)?;
        let read = |index: usize| unsigned(row.get::<_, i64>(index));
        Ok(QueueCounts { visible: read(0), in_flight: read(1), delayed: read(2) })
    }

    pub(super) async fn movable(
        &self,
        queue: QueueId,
        now: Timestamp,
        up_to_seq: u64,
        max: usize,
    ) -> Result<Vec<MovableMessage>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt("SELECT 1 FROM queues WHERE id = $1 AND deleted_at IS NULL", &[&big(queue.0)])
            .await
            .map_err(db_error)?
            .ok_or(StoreError::QueueNotFound(queue))?;
        let rows = client
            .query(
                "SELECT seq, content FROM messages WHERE queue_id = $1 AND visible_at <= $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                &[&big(queue.0), &big(now), &big(up_to_seq), &(max as i64)],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let content: MessageContent = decode(row.get::<_, &[u8]>(1))?;
                Ok(MovableMessage { seq: unsigned(row.get(0)), dead_letter_source_arn: content.dead_letter_source_arn })
            })
            .collect()
    }

    pub(super) async fn transfer(&self, request: MoveRequest) -> Result<usize, StoreError> {
        if request.from == request.to {
            return Ok(0);
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db_error)?;
        let (first, second) = if request.from < request.to { (request.from, request.to) } else { (request.to, request.from) };
        lock_queue(&transaction, first).await?;
        lock_queue(&transaction, second).await?;
        let new_seqs = next_seqs(&transaction, request.seqs.len()).await?;
        let mut moved = 0;
        for (&seq, new_seq) in request.seqs.iter().zip(new_seqs) {
            let row = transaction
                .query_opt(
                    "DELETE FROM messages WHERE queue_id = $1 AND seq = $2 AND visible_at <= $3 RETURNING *",
                    &[&big(request.from.0), &big(seq), &big(request.now)],
                )
                .await
                .map_err(db_error)?;
            let Some(row) = row else { continue };
            let message = MessageRow::from_row(&row)?;
            let mut content = (*message.content).clone();
            content.dead_letter_source_arn = None;
            let row = NewRow {
                queue: request.to,
                seq: new_seq,
                content: &content,
                enqueued_at: request.now,
                visible_at: request.now,
                receive_count: 0,
                first_received_at: None,
            };
            insert_message(&transaction, row).await?;
            moved += 1;
        }
        transaction.commit().await.map_err(db_error)?;
        if moved > 0 {
            wake(&client, &self.channel, &[request.to]).await;
        }
        Ok(moved)
    }
}
