//! The durable room log: one SQLite file (`heartline.db`, WAL mode) under the data dir.
//!
//! Writes go through one dedicated thread that owns the only writing connection. It takes the
//! appends that are waiting (up to [`GroupCommit::max_batch`], optionally waiting
//! [`GroupCommit::window_ms`] for more), writes them in one transaction, syncs, and only then
//! answers each append: so an append returns once its message is on disk, and one sync is
//! shared by everything that arrived while the previous one ran (group commit). Reads run on
//! tokio's blocking pool over a small set of read connections; WAL lets them read while the
//! writer writes. Retention runs on the writer thread too, in small chunks between batches, so
//! it never holds an append up by more than one chunk; a batch that takes the store over its
//! byte bound deletes, in its own transaction, at most 1024 rows over their rooms' count and
//! 1024 of the oldest (the rest between batches). A client id's secret (table `identities`)
//! is claimed on the writer thread too, in a batch's transaction: it is synced before the join
//! that claimed it is answered, so after a restart the id still needs that secret.
//!
//! At start the data dir is locked (`heartline.lock`, so two servers never number the same
//! rooms), the database is checked (`PRAGMA quick_check`) and written once (so a read-only or
//! full disk shows at start, not at the first message). Nothing is ever deleted or rewritten to
//! "repair" a database: a bad one is named and left as it is.

use super::{
    has_gap, media_url, new_epoch, unix_ms, Appended, Content, Draft, History, Media, Page,
    PageEnd, PageFill, PageLimit, PendingAppend, Retention, RoomStore, StoreError, MAX_CLIENT_IDS,
};
use async_trait::async_trait;
use heartline_protocol::{Body, ChatMessage};
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The database file's name in the data dir.
pub const DB_FILE: &str = "heartline.db";
/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "heartline.lock";
/// The schema this code writes; a database with another one is refused, never migrated blindly.
const SCHEMA_VERSION: &str = "1";
/// Rows removed per retention step: small enough that an append waits at most a few ms.
const PRUNE_CHUNK: usize = 256;
/// How often retention runs when the writer is busy.
const PRUNE_EVERY: Duration = Duration::from_secs(1);
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// How appends are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Most appends in one transaction.
    pub max_batch: usize,
    /// How long the writer waits for more appends after the first one, ms. 0 takes only what
    /// is already waiting: appends that arrive during a sync form the next batch by themselves.
    pub window_ms: u64,
}

impl Default for GroupCommit {
    // Measured with bench/loadgen, 100 clients, one sender, sessions pipelining their appends
    // (bench/reading.md): a 2 ms window added its 2 ms to every paced ack (p50 0.5 -> 2.6-3.4 ms)
    // and did not raise a burst's deliveries/s, because what arrives during one sync already
    // forms the next batch. So the default waits for nothing; 256 (a session's most in flight)
    // bounds one transaction to a few ms of work.
    fn default() -> Self {
        Self {
            max_batch: 256,
            window_ms: 0,
        }
    }
}

/// Why the store could not start. The message names the path and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(String);

/// Rooms in a SQLite database under a data dir.
pub struct SqliteStore {
    epoch: String,
    path: PathBuf,
    retention: Retention,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Held for the store's life: the data dir belongs to this process.
    _lock: File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// What the writer thread is asked to do.
enum Job {
    Append(AppendJob),
    Claim(ClaimJob),
    Release(ReleaseJob),
}

struct AppendJob {
    room: String,
    draft: Draft,
    fingerprint: [u8; 32],
    now_ms: u64,
    /// See [`RoomStore::enqueue`].
    above: u64,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Store `candidate` as `client_id`'s secret unless one is stored; reply with the stored one.
struct ClaimJob {
    client_id: String,
    candidate: String,
    reply: oneshot::Sender<Result<String, StoreError>>,
}

struct ReleaseJob {
    client_id: String,
    secret: String,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// A change to the client ids, applied in the order it came (a claim, its release, a new claim).
enum IdentityJob {
    Claim(ClaimJob),
    Release(ReleaseJob),
}

impl IdentityJob {
    /// Answers the job once its batch is committed (a claim's secret; nothing for a release),
    /// or with the batch's error.
    fn answer(self, result: Result<Option<String>, StoreError>) {
        match self {
            IdentityJob::Claim(claim) => {
                let secret = result.and_then(|secret| {
                    secret.ok_or_else(|| StoreError("a claim was not answered".into()))
                });
                let _ = claim.reply.send(secret);
            }
            IdentityJob::Release(release) => {
                let _ = release.reply.send(result.map(|_| ()));
            }
        }
    }
}

/// Says what went wrong with the database at `path`, and what to do about it.
fn explain(path: &Path, doing: &str, error: &rusqlite::Error) -> OpenError {
    let advice = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            "; the file is damaged or not a Heartline database. It was left untouched: restore a \
             backup, or move it away to start from scratch"
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "; another process holds a lock on it (a sqlite3 shell in a transaction, or a backup)"
        }
        Some(ErrorCode::DiskFull) => "; the disk is full: free some space",
        Some(ErrorCode::ReadOnly) => "; the file or its folder is read-only",
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            "; check that the file exists as a file and that this user may read and write it"
        }
        Some(ErrorCode::SystemIoFailure) => {
            "; a read or write failed (a full disk, a file size limit, or a failing device)"
        }
        _ => "",
    };
    OpenError(format!(
        "cannot {doing} the database {}: {error}{advice}",
        path.display()
    ))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    ts INTEGER NOT NULL,
    client_msg_id TEXT NOT NULL,
    body TEXT NOT NULL,        -- the Body as JSON; pictures by URL
    media INTEGER,             -- media.id of its picture
    PRIMARY KEY (room, seq)
);
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (ts);
CREATE TABLE IF NOT EXISTS dedup (
    room TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    fingerprint BLOB NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (room, client_id, client_msg_id)
);
CREATE INDEX IF NOT EXISTS dedup_by_ts ON dedup (ts);
-- AUTOINCREMENT: an id is never reused, so a cached /media/<id> never shows another picture.
CREATE TABLE IF NOT EXISTS media (id INTEGER PRIMARY KEY AUTOINCREMENT, mime TEXT NOT NULL, bytes BLOB NOT NULL);
-- A client id's secret, set once (added within schema 1: older files get it at their next open).
CREATE TABLE IF NOT EXISTS identities (client_id TEXT PRIMARY KEY, secret TEXT NOT NULL);
";

impl SqliteStore {
    /// Opens (or creates) the database under `dir`, creating `dir` if missing.
    pub fn open(dir: &Path, retention: Retention, commit: GroupCommit) -> Result<Self, OpenError> {
        let retention = Retention {
            messages: retention.messages.max(1),
            ..retention
        };
        std::fs::create_dir_all(dir).map_err(|error| {
            OpenError(format!(
                "cannot create the data dir {}: {error}",
                dir.display()
            ))
        })?;
        if !dir.is_dir() {
            return Err(OpenError(format!(
                "the data dir {} is not a directory",
                dir.display()
            )));
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| {
                OpenError(format!(
                    "the data dir {} is not writable (cannot open {}): {error}",
                    dir.display(),
                    lock_path.display()
                ))
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError(format!(
                    "the data dir {} is in use by another heartline-server (it holds {})",
                    dir.display(),
                    lock_path.display()
                )))
            }
            Err(TryLockError::Error(error)) => {
                return Err(OpenError(format!(
                    "cannot lock {}: {error}",
                    lock_path.display()
                )))
            }
        }
        // SQLite creates its -wal and -shm files next to the database: the folder itself must
        // take new files, even when the lock file was already there.
        let probe = dir.join(".heartline-write-test");
        File::create(&probe).map_err(|error| {
            OpenError(format!(
                "the data dir {} is not writable: {error}",
                dir.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);

        let path = dir.join(DB_FILE);
        if path.exists() && !path.is_file() {
            return Err(OpenError(format!(
                "the database {} is not a file; move it away",
                path.display()
            )));
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| explain(&path, "open", &error))?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(|error| explain(&path, "open", &error))?;
        // Checked before anything is written: switching to WAL rewrites the file's header.
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(|error| explain(&path, "check", &error))?;
        if check != "ok" {
            return Err(OpenError(format!(
                "the database {} is damaged ({check}). It was left untouched: restore a backup, \
                 or move it away to start from scratch",
                path.display()
            )));
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|error| explain(&path, "read", &error))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError(format!(
                "cannot put the database {} in WAL mode (it stayed in {mode} mode)",
                path.display()
            )));
        }
        // FULL: a commit is synced before the ack, so an acked message survives a power cut too,
        // not only a crash of this process. Group commit pays for the syncs.
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(|error| explain(&path, "configure", &error))?;
        let epoch = prepare(&mut conn).map_err(|error| match error {
            Prepared::Sql(error) => explain(&path, "write to", &error),
            Prepared::Schema(found) => OpenError(format!(
                "the database {} has schema {found:?}, this server knows {SCHEMA_VERSION:?}: \
                 it was written by another version; it was left untouched",
                path.display()
            )),
            Prepared::Foreign => OpenError(format!(
                "the database {} holds another program's tables, not Heartline's; it was left \
                 untouched: point --data-dir elsewhere",
                path.display()
            )),
        })?;
        let reader = open_reader(&path).map_err(|error| explain(&path, "read", &error))?;

        let (jobs, receiver) = mpsc::channel();
        let writer_epoch = epoch.clone();
        let file = DbFile::at(&path);
        let writer = std::thread::Builder::new()
            .name("heartline-store-writer".into())
            .spawn(move || Writer::new(conn, file, retention, commit, writer_epoch).run(receiver))
            .map_err(|error| OpenError(format!("cannot start the store's writer: {error}")))?;
        tracing::info!(path = %path.display(), %epoch, "store opened");
        Ok(Self {
            epoch,
            path,
            retention,
            jobs: Some(jobs),
            writer: Some(writer),
            readers: Arc::new(Mutex::new(vec![reader])),
            _lock: lock,
        })
    }

    /// Runs `read` on a read connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let task = tokio::task::spawn_blocking(move || {
            let idle = readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let result = read(&conn);
            let mut idle = readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if result.is_ok() && idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        });
        match task.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                tracing::error!(%error, "store read failed");
                Err(StoreError(error.to_string()))
            }
            Err(error) => Err(StoreError(format!("store read task failed: {error}"))),
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer after the batch in hand; join it so the data dir
        // is free (the lock goes with `self`) once the store is gone.
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(2))?;
    conn.execute_batch("PRAGMA query_only=1;")?;
    Ok(conn)
}

enum Prepared {
    Sql(rusqlite::Error),
    Schema(String),
    /// A SQLite database with tables, none of them Heartline's.
    Foreign,
}

impl From<rusqlite::Error> for Prepared {
    fn from(error: rusqlite::Error) -> Self {
        Prepared::Sql(error)
    }
}

/// Creates the schema if missing, checks its version, and reads (or sets) the epoch. Always
/// writes, so a database that cannot take writes is found at start.
fn prepare(conn: &mut Connection) -> Result<String, Prepared> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tables: u64 = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    let ours: u64 = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |row| row.get(0),
    )?;
    if tables > 0 && ours == 0 {
        return Err(Prepared::Foreign);
    }
    tx.execute_batch(SCHEMA)?;
    let schema: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| {
            row.get(0)
        })
        .optional()?;
    match schema {
        Some(found) if found != SCHEMA_VERSION => return Err(Prepared::Schema(found)),
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
    }
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        [new_epoch()],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('opened_ms', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [unix_ms().to_string()],
    )?;
    let epoch: String = tx.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
        row.get(0)
    })?;
    tx.commit()?;
    Ok(epoch)
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    /// The database's path, and the file it named when opened.
    file: DbFile,
    retention: Retention,
    commit: GroupCommit,
    epoch: String,
    /// Rooms that may hold more messages than the count allows.
    crowded: HashSet<String>,
    last_prune: Instant,
    /// The bytes of bodies and pictures stored (see [`Retention::max_bytes`]).
    stored_bytes: u64,
    /// The last message row of the batch before the last one: the byte bound takes only rows
    /// up to it (what one batch stores stays, even when it alone is over).
    evictable_up_to: i64,
}

/// The database file by identity (device and inode): a file removed, or replaced by another
/// moved over its path, while the server runs (an operator's `rm` or `mv`) would take commits
/// nobody will read again, and acked messages would be lost at the next start. (A copy over
/// the open file keeps its inode and is not seen: restore a backup with the server stopped.)
struct DbFile {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl DbFile {
    fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            identity: Self::identity(path),
        }
    }

    #[cfg(unix)]
    fn identity(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()))
    }

    /// Not checked where files have no inode.
    #[cfg(not(unix))]
    fn identity(_path: &Path) -> Option<(u64, u64)> {
        None
    }

    /// Why the path no longer names the file opened, if it does not.
    fn gone(&self) -> Option<String> {
        (Self::identity(&self.path) != self.identity).then(|| {
            format!(
                "the database file {} was removed or replaced while the server ran; nothing \
                 more is stored until it is restarted",
                self.path.display()
            )
        })
    }
}

impl Writer {
    fn new(
        conn: Connection,
        file: DbFile,
        retention: Retention,
        commit: GroupCommit,
        epoch: String,
    ) -> Self {
        // Every room may be over the count at start (the count may have been lowered).
        let crowded = conn
            .prepare("SELECT name FROM rooms")
            .and_then(|mut rooms| {
                rooms
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<HashSet<_>>>()
            })
            .unwrap_or_default();
        // Bytes, not characters: the body as a blob. length() of a picture's blob reads its
        // size from the row's header, not its pages.
        let stored_bytes = match conn.query_row(
            "SELECT (SELECT IFNULL(SUM(length(CAST(body AS BLOB))), 0) FROM messages)
                  + (SELECT IFNULL(SUM(length(bytes)), 0) FROM media)",
            [],
            |row| row.get::<_, i64>(0),
        ) {
            Ok(bytes) => u64::try_from(bytes).unwrap_or(0),
            Err(error) => {
                // Counted from zero: the bound holds for what is stored from now on.
                tracing::warn!(%error, "cannot sum the stored bytes");
                0
            }
        };
        let evictable_up_to = conn
            .query_row("SELECT IFNULL(MAX(rowid), 0) FROM messages", [], |row| {
                row.get(0)
            })
            .unwrap_or(0);
        Self {
            conn,
            file,
            retention,
            commit,
            epoch,
            crowded,
            last_prune: Instant::now(),
            stored_bytes,
            evictable_up_to,
        }
    }

    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut more_to_prune = true;
        loop {
            let wait = if more_to_prune {
                Duration::ZERO
            } else {
                PRUNE_EVERY
            };
            let first = match jobs.recv_timeout(wait) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    more_to_prune = self.prune();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + Duration::from_millis(self.commit.window_ms);
            while batch.len() < self.commit.max_batch {
                let next = match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => jobs.recv_timeout(left).ok(),
                    _ => jobs.try_recv().ok(),
                };
                match next {
                    Some(job) => batch.push(job),
                    None => break,
                }
            }
            self.commit(batch);
            if self.last_prune.elapsed() >= PRUNE_EVERY {
                more_to_prune = self.prune();
            }
            // A commit evicts a bounded number: the rest at once, between appends.
            more_to_prune |= self.stored_bytes > self.retention.max_bytes;
        }
    }

    /// Writes a batch in one transaction, then answers each job: all stored, or none.
    fn commit(&mut self, batch: Vec<Job>) {
        let mut identity = Vec::new();
        let batch: Vec<AppendJob> = batch
            .into_iter()
            .filter_map(|job| match job {
                Job::Append(job) => Some(job),
                Job::Claim(claim) => {
                    identity.push(IdentityJob::Claim(claim));
                    None
                }
                Job::Release(release) => {
                    identity.push(IdentityJob::Release(release));
                    None
                }
            })
            .collect();
        if let Some(gone) = self.file.gone() {
            tracing::error!(messages = batch.len(), "{gone}");
            let error = StoreError(gone);
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
            for job in identity {
                job.answer(Err(error.clone()));
            }
            return;
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outcomes = Vec::with_capacity(batch.len());
            // Rows up to here are older than this batch: the byte bound takes only from them.
            let before_batch: i64 =
                tx.query_row("SELECT IFNULL(MAX(rowid), 0) FROM messages", [], |row| {
                    row.get(0)
                })?;
            // Each room's last seq is read once per batch and written once at its end: fewer
            // statements per message on the writer, which shares the cores with the fan-out.
            let mut last_seqs: HashMap<String, u64> = HashMap::new();
            let mut stored = self.stored_bytes;
            for job in &batch {
                let (outcome, added) = append(&tx, job, &self.epoch, &mut last_seqs)?;
                stored = stored.saturating_add(added);
                outcomes.push(outcome);
            }
            // A bounded number per commit, so its acks do not wait on a bound just lowered;
            // retention goes on with the rest.
            if stored > self.retention.max_bytes {
                // What is over its room's count goes first (retention would take it within a
                // second anyway), not another room's messages in its place; bounded in all,
                // as below (at start every room counts as crowded).
                let mut trimmed = 0;
                for room in last_seqs.keys().chain(self.crowded.iter()) {
                    if trimmed >= 4 * PRUNE_CHUNK {
                        break;
                    }
                    let over_count = over_count(
                        &tx,
                        room,
                        last_seqs.get(room).copied(),
                        self.retention.messages,
                        4 * PRUNE_CHUNK - trimmed,
                    )?;
                    // A room looked at counts too: at most so many queries as well.
                    trimmed += over_count.len().max(1);
                    stored = stored.saturating_sub(delete_rows(&tx, &over_count)?);
                }
            }
            let over = stored.saturating_sub(self.retention.max_bytes);
            if over > 0 {
                stored =
                    stored.saturating_sub(drop_oldest(&tx, before_batch, over, 4 * PRUNE_CHUNK)?);
            }
            for (room, last_seq) in &last_seqs {
                tx.prepare_cached(
                    "INSERT INTO rooms (name, last_seq) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq",
                )?
                .execute(params![room, last_seq])?;
            }
            // A claim's secret; nothing for a release.
            let mut secrets = Vec::with_capacity(identity.len());
            let mut claimed = 0;
            for job in &identity {
                let claim = match job {
                    IdentityJob::Claim(claim) => claim,
                    IdentityJob::Release(release) => {
                        tx.prepare_cached(
                            "DELETE FROM identities WHERE client_id = ?1 AND secret = ?2",
                        )?
                        .execute(params![release.client_id, release.secret])?;
                        secrets.push(None);
                        continue;
                    }
                };
                claimed += tx
                    .prepare_cached(
                        "INSERT INTO identities (client_id, secret) VALUES (?1, ?2)
                         ON CONFLICT (client_id) DO NOTHING",
                    )?
                    .execute(params![claim.client_id, claim.candidate])?;
                secrets.push(Some(
                    tx.prepare_cached("SELECT secret FROM identities WHERE client_id = ?1")?
                        .query_row([&claim.client_id], |row| row.get::<_, String>(0))?,
                ));
            }
            if claimed > 0 {
                // The oldest claims go past the bound (rowids grow with each insert).
                tx.prepare_cached(
                    "DELETE FROM identities WHERE rowid <= (SELECT max(rowid) FROM identities) - ?1",
                )?
                .execute([MAX_CLIENT_IDS as i64])?;
            }
            tx.commit()?;
            Ok::<_, rusqlite::Error>((outcomes, secrets, stored, before_batch))
        })();
        match result {
            Ok((outcomes, secrets, stored, before_batch)) => {
                self.stored_bytes = stored;
                self.evictable_up_to = before_batch;
                for (job, secret) in identity.into_iter().zip(secrets) {
                    job.answer(Ok(secret));
                }
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    if matches!(outcome, Appended::New(_)) {
                        self.crowded.insert(job.room);
                    }
                    // The client may be gone; its message is stored all the same.
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(%error, messages = batch.len(), "store write failed; nothing of this batch was saved");
                let error = StoreError(error.to_string());
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
                for job in identity {
                    job.answer(Err(error.clone()));
                }
            }
        }
    }

    /// One step of retention: at most a chunk of rows per rule. Returns whether more is left.
    fn prune(&mut self) -> bool {
        self.last_prune = Instant::now();
        let now = unix_ms();
        match self.prune_step(now) {
            Ok(more) => more,
            Err(error) => {
                tracing::warn!(%error, "retention step failed; will retry");
                false
            }
        }
    }

    fn prune_step(&mut self, now: u64) -> rusqlite::Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut doomed: Vec<(i64, Option<i64>, u64)> = Vec::new();
        let mut settled = Vec::new();
        for room in &self.crowded {
            let before = doomed.len();
            doomed.extend(over_count(
                &tx,
                room,
                None,
                self.retention.messages,
                PRUNE_CHUNK,
            )?);
            if doomed.len() - before < PRUNE_CHUNK {
                settled.push(room.clone());
            }
            if doomed.len() >= PRUNE_CHUNK {
                break;
            }
        }
        let mut more = doomed.len() >= PRUNE_CHUNK;
        if let Some(age) = self.retention.max_age_ms {
            let mut rows = tx.prepare_cached(&format!(
                "SELECT {ROW_AND_SIZE} FROM messages WHERE ts < ?1 ORDER BY ts LIMIT ?2"
            ))?;
            let before = doomed.len();
            for row in
                rows.query_map(params![now.saturating_sub(age), PRUNE_CHUNK], row_and_size)?
            {
                doomed.push(row?);
            }
            more |= doomed.len() - before >= PRUNE_CHUNK;
        }
        // A row both too old and past the count is deleted (and counted) once.
        doomed.sort_unstable_by_key(|(rowid, ..)| *rowid);
        doomed.dedup_by_key(|(rowid, ..)| *rowid);
        let mut freed = delete_rows(&tx, &doomed)?;
        // A bound lowered since the last start.
        let over = self
            .stored_bytes
            .saturating_sub(freed)
            .saturating_sub(self.retention.max_bytes);
        if over > 0 {
            let dropped = drop_oldest(&tx, self.evictable_up_to, over, PRUNE_CHUNK)?;
            more |= dropped > 0 && dropped < over;
            freed += dropped;
        }
        // A dedup key goes once its window has passed and its message is gone.
        let expired = tx
            .prepare_cached(
                "DELETE FROM dedup WHERE rowid IN (
                    SELECT d.rowid FROM dedup d WHERE d.ts < ?1
                    AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room = d.room AND m.seq = d.seq)
                    LIMIT ?2)",
            )?
            .execute(params![
                now.saturating_sub(self.retention.dedup_window_ms),
                PRUNE_CHUNK
            ])?;
        more |= expired >= PRUNE_CHUNK;
        tx.commit()?;
        self.stored_bytes = self.stored_bytes.saturating_sub(freed);
        for room in settled {
            self.crowded.remove(&room);
        }
        Ok(more)
    }
}

/// A message row's id, its picture's id, and the bytes of both (see [`row_and_size`]).
const ROW_AND_SIZE: &str = "rowid, media, length(CAST(body AS BLOB))
    + IFNULL((SELECT length(bytes) FROM media WHERE media.id = messages.media), 0)";

fn row_and_size(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Option<i64>, u64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

/// A room's oldest rows beyond the last `keep` by seq, at most `limit` (see [`ROW_AND_SIZE`]);
/// `last_seq` when the caller knows it (this batch's), else read from `rooms`.
fn over_count(
    tx: &Transaction<'_>,
    room: &str,
    last_seq: Option<u64>,
    keep: usize,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, Option<i64>, u64)>> {
    let last_seq = match last_seq {
        Some(seq) => seq,
        None => tx
            .prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?
            .query_row([room], |row| row.get(0))
            .optional()?
            .unwrap_or(0),
    };
    let floor = last_seq.saturating_sub(keep as u64);
    tx.prepare_cached(&format!(
        "SELECT {ROW_AND_SIZE} FROM messages WHERE room = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3"
    ))?
    .query_map(params![room, floor, limit], row_and_size)?
    .collect()
}

/// Deletes message rows with their pictures; returns the bytes freed.
fn delete_rows(tx: &Transaction<'_>, rows: &[(i64, Option<i64>, u64)]) -> rusqlite::Result<u64> {
    let mut freed = 0u64;
    for (rowid, media, bytes) in rows {
        tx.prepare_cached("DELETE FROM messages WHERE rowid = ?1")?
            .execute([rowid])?;
        if let Some(media) = media {
            tx.prepare_cached("DELETE FROM media WHERE id = ?1")?
                .execute([media])?;
        }
        freed = freed.saturating_add(*bytes);
    }
    Ok(freed)
}

/// The byte bound: deletes the oldest messages stored (of any room, rowid up to `up_to`), at
/// most `limit` of them, until `over` bytes are freed; returns the bytes freed.
fn drop_oldest(tx: &Transaction<'_>, up_to: i64, over: u64, limit: usize) -> rusqlite::Result<u64> {
    let mut freed = 0u64;
    let mut taken = 0usize;
    while freed < over && taken < limit {
        let chunk = PRUNE_CHUNK.min(limit - taken);
        let mut oldest = Vec::with_capacity(chunk);
        {
            let mut rows = tx.prepare_cached(&format!(
                "SELECT {ROW_AND_SIZE} FROM messages WHERE rowid <= ?1 ORDER BY rowid LIMIT ?2"
            ))?;
            for row in rows.query_map(params![up_to, chunk], row_and_size)? {
                let row = row?;
                if freed >= over {
                    break;
                }
                freed = freed.saturating_add(row.2);
                oldest.push(row);
            }
        }
        if oldest.is_empty() {
            break;
        }
        taken += oldest.len();
        delete_rows(tx, &oldest)?;
    }
    Ok(freed)
}

/// Stores one message in the batch's transaction, unless it is a resend or a conflict; with
/// the bytes it stored. `last_seqs` holds the rooms' last seqs as this batch left them; the
/// caller writes them back.
fn append(
    tx: &Transaction<'_>,
    job: &AppendJob,
    epoch: &str,
    last_seqs: &mut HashMap<String, u64>,
) -> rusqlite::Result<(Appended, u64)> {
    let draft = &job.draft;
    let seen: Option<(u64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT seq, fingerprint FROM dedup WHERE room = ?1 AND client_id = ?2 AND client_msg_id = ?3",
        )?
        .query_row(
            params![job.room, draft.client_id, draft.client_msg_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if let Some((seq, fingerprint)) = seen {
        let outcome = if fingerprint == job.fingerprint {
            Appended::Duplicate(seq)
        } else {
            Appended::Conflict(seq)
        };
        return Ok((outcome, 0));
    }
    let last_seq = match last_seqs.get(&job.room) {
        Some(seq) => *seq,
        None => tx
            .prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?
            .query_row([&job.room], |row| row.get(0))
            .optional()?
            .unwrap_or(0),
    };
    let seq = last_seq.max(job.above) + 1;
    let (body, media) = match &draft.content {
        Content::Text(text) => (Body::Text { text: text.clone() }, None),
        Content::Picture(picture) => {
            tx.prepare_cached("INSERT INTO media (mime, bytes) VALUES (?1, ?2)")?
                .execute(params![picture.mime, picture.bytes])?;
            let id = tx.last_insert_rowid();
            (picture.body(media_url(&format!("{epoch}-{id}"))), Some(id))
        }
    };
    let json = serde_json::to_string(&body)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
    tx.prepare_cached(
        "INSERT INTO messages (room, seq, sender, ts, client_msg_id, body, media)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        job.room,
        seq,
        draft.from,
        job.now_ms,
        draft.client_msg_id,
        json,
        media
    ])?;
    tx.prepare_cached(
        "INSERT INTO dedup (room, client_id, client_msg_id, seq, fingerprint, ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        job.room,
        draft.client_id,
        draft.client_msg_id,
        seq,
        &job.fingerprint[..],
        job.now_ms
    ])?;
    last_seqs.insert(job.room.clone(), seq);
    let picture_bytes = match &draft.content {
        Content::Picture(picture) => picture.bytes.len(),
        Content::Text(_) => 0,
    };
    let message = Appended::New(ChatMessage {
        room: job.room.clone(),
        seq,
        from: draft.from.clone(),
        ts: job.now_ms,
        client_msg_id: draft.client_msg_id.clone(),
        body,
    });
    Ok((message, (json.len() + picture_bytes) as u64))
}

fn read_since(
    conn: &Connection,
    room: &str,
    after: Option<u64>,
    retention: Retention,
    now: u64,
) -> rusqlite::Result<History> {
    let everything = PageLimit {
        messages: usize::MAX,
        bytes: usize::MAX,
    };
    let range = (after, None);
    read_page(
        conn,
        room,
        range,
        everything,
        PageEnd::Oldest,
        retention,
        now,
    )
    .map(|page| page.history)
}

/// The newest (or oldest, by `end`) messages with `after < seq < before` that fit in `limit`:
/// rows are read from that end and only until the page is full.
fn read_page(
    conn: &Connection,
    room: &str,
    (after, before): (Option<u64>, Option<u64>),
    limit: PageLimit,
    end: PageEnd,
    retention: Retention,
    now: u64,
) -> rusqlite::Result<Page> {
    // One read transaction: the room's last seq and its messages come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let last_seq: Option<u64> = tx
        .prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?
        .query_row([room], |row| row.get(0))
        .optional()?;
    let Some(last_seq) = last_seq else {
        return Ok(Page {
            history: History {
                messages: Vec::new(),
                gap: after.is_some_and(|seq| seq > 0),
                last_seq: 0,
            },
            more: false,
        });
    };
    // Rows the background retention has not removed yet are already gone for readers, so the
    // answer does not depend on how far pruning got.
    let floor = last_seq.saturating_sub(retention.messages as u64);
    let cutoff = retention
        .max_age_ms
        .map_or(0, |age| now.saturating_sub(age));
    let oldest_kept: Option<u64> = tx
        .prepare_cached("SELECT MIN(seq) FROM messages WHERE room = ?1 AND seq > ?2 AND ts >= ?3")?
        .query_row(params![room, floor, cutoff], |row| row.get(0))?;
    // Clamped to the room's end: a `last_seq` past it (up to u64::MAX) does not fit SQLite's i64.
    let from = floor.max(after.unwrap_or(0)).min(last_seq);
    let until = before.unwrap_or(u64::MAX).min(last_seq.saturating_add(1));
    let mut rows = tx.prepare_cached(match end {
        PageEnd::Newest => {
            "SELECT seq, sender, ts, client_msg_id, body FROM messages
             WHERE room = ?1 AND seq > ?2 AND ts >= ?3 AND seq < ?4 ORDER BY seq DESC"
        }
        PageEnd::Oldest => {
            "SELECT seq, sender, ts, client_msg_id, body FROM messages
             WHERE room = ?1 AND seq > ?2 AND ts >= ?3 AND seq < ?4 ORDER BY seq ASC"
        }
    })?;
    let rows = rows.query_map(params![room, from, cutoff, until], |row| {
        let body: String = row.get(4)?;
        let body: Body = serde_json::from_str(&body).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, error.into())
        })?;
        Ok(ChatMessage {
            room: room.to_owned(),
            seq: row.get(0)?,
            from: row.get(1)?,
            ts: row.get(2)?,
            client_msg_id: row.get(3)?,
            body,
        })
    })?;
    let mut page = PageFill::new(limit, end);
    for message in rows {
        if !page.push(message?) {
            break;
        }
    }
    let (messages, more) = page.finish();
    Ok(Page {
        history: History {
            messages,
            gap: has_gap(after, oldest_kept.unwrap_or(last_seq + 1), last_seq),
            last_seq,
        },
        more,
    })
}

/// What a job gets when the writer can no longer take or answer it.
fn writer_stopped() -> StoreError {
    StoreError("the store's writer has stopped".into())
}

impl SqliteStore {
    /// Hands a job to the writer and waits for its answer.
    async fn ask_writer<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.jobs
            .as_ref()
            .ok_or_else(writer_stopped)?
            .send(job)
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }
}

#[async_trait]
impl RoomStore for SqliteStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn enqueue(&self, room: &str, draft: Draft, now_ms: u64, above: u64) -> PendingAppend {
        let (reply, answer) = oneshot::channel();
        let job = Job::Append(AppendJob {
            room: room.to_owned(),
            fingerprint: draft.fingerprint(),
            draft,
            now_ms,
            above,
            reply,
        });
        // In the writer's queue before returning: the queue's order is the storing order.
        let queued = match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|_| writer_stopped()),
            None => Err(writer_stopped()),
        };
        Box::pin(async move {
            queued?;
            answer.await.map_err(|_| writer_stopped())?
        })
    }

    async fn since(&self, room: &str, after: Option<u64>) -> Result<History, StoreError> {
        let room = room.to_owned();
        let retention = self.retention;
        self.read(move |conn| read_since(conn, &room, after, retention, unix_ms()))
            .await
    }

    async fn page(
        &self,
        room: &str,
        after: Option<u64>,
        before: Option<u64>,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let room = room.to_owned();
        let retention = self.retention;
        self.read(move |conn| {
            let range = (after, before);
            read_page(
                conn,
                &room,
                range,
                limit,
                PageEnd::Newest,
                retention,
                unix_ms(),
            )
        })
        .await
    }

    async fn page_after(
        &self,
        room: &str,
        after: u64,
        limit: PageLimit,
    ) -> Result<Page, StoreError> {
        let room = room.to_owned();
        let retention = self.retention;
        self.read(move |conn| {
            let range = (Some(after), None);
            read_page(
                conn,
                &room,
                range,
                limit,
                PageEnd::Oldest,
                retention,
                unix_ms(),
            )
        })
        .await
    }

    async fn claim_identity(&self, client_id: &str, candidate: &str) -> Result<String, StoreError> {
        // A secret never changes once set: a known id is answered by a reader, without a sync.
        let id = client_id.to_owned();
        let known = self
            .read(move |conn| {
                conn.prepare_cached("SELECT secret FROM identities WHERE client_id = ?1")?
                    .query_row([&id], |row| row.get::<_, String>(0))
                    .optional()
            })
            .await?;
        if let Some(known) = known {
            return Ok(known);
        }
        let (reply, answer) = oneshot::channel();
        let job = Job::Claim(ClaimJob {
            client_id: client_id.to_owned(),
            candidate: candidate.to_owned(),
            reply,
        });
        self.ask_writer(job, answer).await
    }

    async fn release_identity(&self, client_id: &str, secret: &str) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Release(ReleaseJob {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            reply,
        });
        self.ask_writer(job, answer).await
    }

    async fn media(&self, id: &str) -> Result<Option<Media>, StoreError> {
        let Some(row) = self.media_row(id) else {
            return Ok(None);
        };
        self.read(move |conn| {
            conn.prepare_cached("SELECT mime, bytes FROM media WHERE id = ?1")?
                .query_row([row], |row| {
                    Ok(Media {
                        mime: row.get(0)?,
                        bytes: row.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn media_size(&self, id: &str) -> Result<Option<usize>, StoreError> {
        let Some(row) = self.media_row(id) else {
            return Ok(None);
        };
        let size: Option<i64> = self
            .read(move |conn| {
                conn.prepare_cached("SELECT length(bytes) FROM media WHERE id = ?1")?
                    .query_row([row], |row| row.get(0))
                    .optional()
            })
            .await?;
        Ok(size.and_then(|size| usize::try_from(size).ok()))
    }
}

impl SqliteStore {
    /// The row of a picture id, `<epoch>-<row>`: a picture of another database is unknown here.
    fn media_row(&self, id: &str) -> Option<i64> {
        id.strip_prefix(self.epoch.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|row| row.parse::<i64>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `open` reopens the same data dir, as a restart would.
    struct Sqlite {
        dir: tempfile::TempDir,
    }

    impl super::super::contract::Backend for Sqlite {
        type Store = SqliteStore;
        async fn open(&mut self, retention: Retention) -> SqliteStore {
            SqliteStore::open(self.dir.path(), retention, GroupCommit::default())
                .expect("the store opens")
        }
        fn durable(&self) -> bool {
            true
        }
    }

    fn backend() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    crate::contract_suite!(backend());

    #[tokio::test]
    async fn a_second_store_on_the_same_dir_is_refused_and_the_first_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            SqliteStore::open(dir.path(), Retention::default(), GroupCommit::default()).unwrap();
        let error = SqliteStore::open(dir.path(), Retention::default(), GroupCommit::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("in use by another"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        let draft = Draft {
            from: "ada".into(),
            client_id: "c".into(),
            client_msg_id: "1".into(),
            content: Content::Text("still here".into()),
        };
        assert!(matches!(
            first.append("r", draft, 1).await,
            Ok(Appended::New(_))
        ));
    }

    #[tokio::test]
    async fn client_ids_past_the_bound_forget_the_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path(), Retention::default(), GroupCommit::default()).unwrap();
        assert_eq!(
            store.claim_identity("c-first", "s-first").await.unwrap(),
            "s-first"
        );
        // As many more as the bound holds, written straight into the file (one transaction).
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for n in 0..MAX_CLIENT_IDS {
                tx.execute(
                    "INSERT INTO identities (client_id, secret) VALUES (?1, 's')",
                    [format!("c-{n}")],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        // One more claim: the oldest goes, and it is claimed again with what it presents.
        assert_eq!(
            store.claim_identity("c-new", "s-new").await.unwrap(),
            "s-new"
        );
        let count = |dir: &Path| -> i64 {
            Connection::open(dir.join(DB_FILE))
                .unwrap()
                .query_row("SELECT count(*) FROM identities", [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(count(dir.path()), MAX_CLIENT_IDS as i64);
        assert_eq!(
            store.claim_identity("c-first", "s-again").await.unwrap(),
            "s-again"
        );
        assert_eq!(
            store.claim_identity("c-new", "s-other").await.unwrap(),
            "s-new"
        );
        assert_eq!(count(dir.path()), MAX_CLIENT_IDS as i64);
    }

    #[tokio::test]
    async fn retention_prunes_rows_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            messages: 3,
            ..Retention::default()
        };
        let store = SqliteStore::open(dir.path(), retention, GroupCommit::default()).unwrap();
        for id in 0..10 {
            let draft = Draft {
                from: "ada".into(),
                client_id: "c".into(),
                client_msg_id: id.to_string(),
                content: Content::Text(id.to_string()),
            };
            store.append("r", draft, unix_ms()).await.unwrap();
        }
        let count = || {
            let conn = open_reader(&dir.path().join(DB_FILE)).unwrap();
            conn.query_row("SELECT COUNT(*) FROM messages", [], |row| {
                row.get::<_, u64>(0)
            })
            .unwrap()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while count() > 3 {
            assert!(Instant::now() < deadline, "rows were not pruned in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(count(), 3);
    }

    #[tokio::test]
    async fn messages_past_the_age_limit_are_pruned_in_the_background_while_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age_ms: Some(60_000),
            ..Retention::default()
        };
        let store = SqliteStore::open(dir.path(), retention, GroupCommit::default()).unwrap();
        let draft = |id: usize| Draft {
            from: "ada".into(),
            client_id: "c".into(),
            client_msg_id: id.to_string(),
            content: Content::Text(id.to_string()),
        };
        let hour_ago = unix_ms() - 3_600_000;
        for id in 0..5 {
            store.append("r", draft(id), hour_ago).await.unwrap();
        }
        let count = || {
            let conn = open_reader(&dir.path().join(DB_FILE)).unwrap();
            conn.query_row("SELECT COUNT(*) FROM messages", [], |row| {
                row.get::<_, u64>(0)
            })
            .unwrap()
        };
        // Appends keep being answered while the old rows go.
        let mut id = 5;
        let deadline = Instant::now() + Duration::from_secs(5);
        while count() > (id - 5) as u64 {
            assert!(
                Instant::now() < deadline,
                "old rows were not pruned in time"
            );
            let appended = tokio::time::timeout(
                Duration::from_secs(1),
                store.append("r", draft(id), unix_ms()),
            )
            .await
            .expect("an append is not held up by pruning")
            .unwrap();
            assert!(matches!(appended, Appended::New(_)));
            id += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let history = store.since("r", None).await.unwrap();
        assert!(
            history.messages.iter().all(|m| m.seq > 5),
            "only the fresh ones are kept"
        );
        assert_eq!(history.messages.len(), id - 5);
    }
}
