//! The PostgreSQL store's reader connections: a bounded pool whose connections keep their
//! prepared statements, so a read is one round trip (bind and execute), not four (a validity
//! probe, parse, execute, close), which is what a generic pool and `Client::query(&str)` cost.
//!
//! Connections open lazily, up to the configured count; a caller waits at most
//! [`MAX_READER_WAIT`] for one to come free, then gets [`StoreError::Unavailable`] saying so. A
//! connection the server closed is dropped when it comes back, and a new one opens in its place.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use event_store::StoreError;
use postgres::{Client, NoTls, Statement};

use crate::postgres_engine::pg;

/// The longest a read waits for a free reader connection.
pub(crate) const MAX_READER_WAIT: Duration = Duration::from_secs(30);
/// How long a connection that failed a call has to answer a probe before it counts as gone.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most reader connections one store may open (`PostgresConfig::readers` above it is
/// refused): each is a server process.
pub(crate) const MAX_READERS: u32 = 64;

/// One reader connection and the statements it has prepared.
struct Reader {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Reader {
    /// `sql` prepared on this connection (once; later calls reuse it).
    fn prepared(&mut self, sql: &'static str) -> Result<(&mut Client, Statement), StoreError> {
        let statement = match self.prepared.get(sql) {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(sql).map_err(pg)?;
                self.prepared.insert(sql, statement.clone());
                statement
            }
        };
        Ok((&mut self.client, statement))
    }
}

struct Slots {
    idle: Vec<Reader>,
    /// Connections open now, idle or lent.
    open: u32,
}

/// The pool.
pub(crate) struct ReaderPool {
    config: postgres::Config,
    max: u32,
    slots: Mutex<Slots>,
    returned: Condvar,
}

fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    // Every holder leaves the slots consistent (counts change with the vector under one lock).
    slots.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReaderPool {
    /// A pool of at most `max` connections (1 to [`MAX_READERS`]); none opens yet.
    pub(crate) fn new(config: postgres::Config, max: u32) -> Result<Self, StoreError> {
        if !(1..=MAX_READERS).contains(&max) {
            return Err(StoreError::Unrepresentable {
                what: "reader connections",
                why: format!("{max} is not 1 to {MAX_READERS}"),
            });
        }
        Ok(Self {
            config,
            max,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        })
    }

    /// A connection: an idle one, a new one while fewer than the most are open, else the first
    /// returned within [`MAX_READER_WAIT`].
    pub(crate) fn get(&self) -> Result<Lent<'_>, StoreError> {
        let deadline = Instant::now() + MAX_READER_WAIT;
        let mut slots = lock(&self.slots);
        loop {
            if let Some(reader) = slots.idle.pop() {
                return Ok(Lent {
                    pool: self,
                    reader: Some(reader),
                });
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return self.open_one();
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(StoreError::Unavailable(format!(
                    "all {} PostgreSQL reader connections stayed busy for {} s",
                    self.max,
                    MAX_READER_WAIT.as_secs()
                )));
            };
            slots = match self.returned.wait_timeout(slots, left) {
                Ok((slots, _)) => slots,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Opens the connection counted in `open` by the caller (uncounted again if it fails).
    fn open_one(&self) -> Result<Lent<'_>, StoreError> {
        match self.config.connect(NoTls) {
            Ok(client) => Ok(Lent {
                pool: self,
                reader: Some(Reader {
                    client,
                    prepared: HashMap::new(),
                }),
            }),
            Err(e) => {
                self.forget_one();
                Err(pg(e))
            }
        }
    }

    fn forget_one(&self) {
        let mut slots = lock(&self.slots);
        slots.open = slots.open.saturating_sub(1);
        drop(slots);
        self.returned.notify_one();
    }

    fn put_back(&self, reader: Reader) {
        if reader.client.is_closed() {
            self.forget_one();
            return;
        }
        lock(&self.slots).idle.push(reader);
        self.returned.notify_one();
    }
}

/// A connection lent by the pool, returned when dropped.
pub(crate) struct Lent<'p> {
    pool: &'p ReaderPool,
    reader: Option<Reader>,
}

impl Lent<'_> {
    /// After a failed call: whether the connection is gone (the server ended it, or it no longer
    /// answers within [`PROBE_TIMEOUT`]). A connection found gone is not lent again.
    pub(crate) fn is_broken(&mut self) -> bool {
        let broken = self
            .reader
            .as_mut()
            .is_none_or(|r| r.client.is_closed() || r.client.is_valid(PROBE_TIMEOUT).is_err());
        if broken {
            self.reader = None;
            self.pool.forget_one();
        }
        broken
    }

    /// `sql` prepared on the lent connection (once per connection), with the connection.
    pub(crate) fn prepared(
        &mut self,
        sql: &'static str,
    ) -> Result<(&mut Client, Statement), StoreError> {
        self.reader
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("a reader connection used after return".into()))?
            .prepared(sql)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            self.pool.put_back(reader);
        }
    }
}
