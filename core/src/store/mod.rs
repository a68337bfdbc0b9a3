//! The database seam. `Store::open` sets pragmas, backs up and migrates; `read` and `write` run a
//! closure on the blocking pool with a connection (a write closure is one transaction). No rusqlite
//! type leaves this module: table modules return domain types and [`StoreError`].

pub mod audit;
pub mod callable;
pub mod channel_groups;
pub mod channel_models;
pub mod channels;
pub mod codex_accounts;
pub mod credentials;
pub mod login_failures;
pub mod models;
pub mod oauth_flows;
pub mod response_owners;
pub mod routing;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod unbilled_responses;
pub mod usage;
pub mod usage_stats;
pub mod user_groups;
pub mod users;

mod backup;
mod error;
#[cfg(test)]
mod migration_tests;
mod row;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};

pub use backup::backup_to;
pub use error::StoreError;
pub use row::{Page, now_ms};

mod embedded {
    refinery::embed_migrations!("../migrations/sqlite");
}

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections opened beside the writer for a file database (WAL lets them run concurrently).
const READ_CONNECTIONS: usize = 4;
/// Page cache of the write connection, in KiB (SQLite's default is 2 000). Its work is appending
/// usage rows and small admin changes, which touch a few pages each; the operating system's file
/// cache is below it either way. Read connections keep the default for the console's scans.
const WRITER_CACHE_KIB: i64 = 512;

/// A connection as the table modules see it; a [`Transaction`] derefs to it.
pub type Conn = Connection;

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    path: Option<PathBuf>,
}

/// What `Store::open` did before serving.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Migrations applied now, by name.
    pub applied: Vec<String>,
    /// The backup taken before applying them, if the database already had data.
    pub backup: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if missing) a database file, backs it up when migrations are pending on an
    /// existing database, applies them, and opens the read connections.
    pub async fn open(path: &Path) -> Result<(Self, OpenReport), StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
    }

    fn open_blocking(path: &Path) -> Result<(Self, OpenReport), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut writer = open_connection(path)?;
        let report = migrate_with_backup(&mut writer, path)?;
        let readers = (0..READ_CONNECTIONS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let inner = Inner {
            writer: Mutex::new(writer),
            readers,
            path: Some(path.to_path_buf()),
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// An in-memory database with every migration applied, on one connection; for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        apply(&mut conn, &embedded::migrations::runner())?;
        let inner = Inner {
            writer: Mutex::new(conn),
            readers: Vec::new(),
            path: None,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Runs `f` with a read connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.reader()?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Runs `f` inside one write transaction on the blocking pool; commits when `f` returns `Ok`,
    /// rolls back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_then(f, |_| {}).await
    }

    /// [`write`](Self::write), then `committed` with the result once the transaction has
    /// committed, while no other write can start: what it does is ordered with every other
    /// write as their commits are. For in-memory copies of stored values (the balances the hot
    /// path checks), which a copy read before a commit must never overwrite after it.
    pub async fn write_then<T, F, C>(&self, f: F, committed: C) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.write_blocking(f, committed))
            .await
            .map_err(|e| StoreError::Internal(format!("write task failed: {e}")))?
    }

    /// `SELECT 1` through a read connection: is the database answering?
    pub async fn ping(&self) -> bool {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
    }

    /// A consistent copy of the whole database into `target` (`VACUUM INTO`).
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        let target = target.to_path_buf();
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.lock_writer()?;
            backup_to(&conn, &target)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("backup task failed: {e}")))?
    }
}

impl Inner {
    fn lock_writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError::Internal("writer lock poisoned".into()))
    }

    fn reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        for conn in &self.readers {
            if let Ok(guard) = conn.try_lock() {
                return Ok(guard);
            }
        }
        match self.readers.first() {
            // Every reader busy: wait for one rather than contend with the writer.
            Some(conn) => conn
                .lock()
                .map_err(|_| StoreError::Internal("reader lock poisoned".into())),
            None => self.lock_writer(),
        }
    }

    fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
        committed: impl FnOnce(&T),
    ) -> Result<T, StoreError> {
        let mut conn = self.lock_writer()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        // the writer is still held: no other write commits in between
        committed(&value);
        Ok(value)
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "this is `Store::open`'s own connection"
)]
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // negative: a size in KiB rather than pages
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Applies pending migrations; when the database already holds a schema and migrations are
/// pending, a `VACUUM INTO` copy is written to `backup/<version>/` beside the file first.
fn migrate_with_backup(conn: &mut Connection, path: &Path) -> Result<OpenReport, StoreError> {
    let runner = embedded::migrations::runner();
    let has_history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    let applied_before = if has_history {
        runner.get_applied_migrations(conn)?
    } else {
        Vec::new()
    };
    let pending = runner
        .get_migrations()
        .iter()
        .filter(|m| !applied_before.iter().any(|a| a.version() == m.version()))
        .count();
    let mut report = OpenReport::default();
    if pending > 0 && !applied_before.is_empty() {
        let version = applied_before
            .iter()
            .map(|m| m.version())
            .max()
            .unwrap_or_default();
        let dir = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("backup")
            .join(format!("v{version}-{}", now_ms()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(path.file_name().unwrap_or_else(|| "realms.db".as_ref()));
        backup_to(conn, &file)?;
        report.backup = Some(file);
    }
    let done = apply(conn, &runner)?;
    report.applied = done
        .applied_migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(report)
}

/// Runs `runner`'s pending migrations with foreign key enforcement off, as SQLite's procedure for
/// rebuilding a table asks (with it on, dropping the old table would delete every row that
/// refers to it), then turns enforcement back on. When any were applied, a row left referring
/// to nothing is logged: each migration has committed by then, so there is nothing to undo, and
/// such a row (a database edited by hand with enforcement off) must not stop the server.
fn apply(conn: &mut Connection, runner: &refinery::Runner) -> Result<refinery::Report, StoreError> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let done = runner.run(conn);
    let enforced = conn.pragma_update(None, "foreign_keys", "ON");
    let done = done?;
    enforced?;
    if !done.applied_migrations().is_empty() {
        log_dangling_references(conn)?;
    }
    Ok(done)
}

/// Logs each row whose foreign key names a row that does not exist (`PRAGMA foreign_key_check`).
fn log_dangling_references(conn: &Connection) -> Result<(), StoreError> {
    let mut check = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = check.query([])?;
    while let Some(row) = rows.next()? {
        let table: String = row.get(0)?;
        let rowid: Option<i64> = row.get(1)?;
        let parent: String = row.get(2)?;
        tracing::error!(
            table,
            rowid,
            parent,
            "after the migrations, a row refers to a `{parent}` row that does not exist"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `write_then` runs after its commit is ordered with the other writes as the commit
    /// is: no other write commits until it is done (the balances rely on it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_runs_after_a_commit_comes_before_any_later_write() {
        let store = Store::open_in_memory().expect("store");
        let tasks = tokio_util::task::TaskTracker::new();
        let (entered, entered_rx) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let first = tasks.spawn({
            let store = store.clone();
            async move {
                store
                    .write_then(
                        |tx| Ok(tx.execute("UPDATE settings SET value = value", [])?),
                        move |_| {
                            let _ = entered.send(());
                            let _ = release_rx.recv();
                        },
                    )
                    .await
            }
        });
        tokio::task::spawn_blocking(move || entered_rx.recv())
            .await
            .expect("joined")
            .expect("the first write committed");
        let second = tasks.spawn({
            let store = store.clone();
            async move {
                store
                    .write(|tx| Ok(tx.execute("UPDATE settings SET value = value", [])?))
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "a later write waits");
        release.send(()).expect("release");
        first.await.expect("joined").expect("first");
        second.await.expect("joined").expect("second");
    }

    #[tokio::test]
    async fn open_creates_file_migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("realms.db");
        let (store, report) = Store::open(&path).await.expect("open");
        assert!(!report.applied.is_empty());
        assert!(report.backup.is_none(), "a new database needs no backup");
        assert!(store.ping().await);
        drop(store);
        let (_, report) = Store::open(&path).await.expect("reopen");
        assert!(report.applied.is_empty());
    }

    #[tokio::test]
    async fn write_rolls_back_on_error() {
        let store = Store::open_in_memory().expect("store");
        let result: Result<(), StoreError> = store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('a', '1', 0)",
                    [],
                )?;
                Err(StoreError::Conflict("forced".into()))
            })
            .await;
        assert!(result.is_err());
        let count: i64 = store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM settings", [], |r| r.get(0))?))
            .await
            .expect("count");
        assert_eq!(count, 0);
    }
}
