//! Group commit: appends from many threads queue to one writer thread, which commits whatever
//! has queued in one transaction, so they share one fsync. Each append (or atomic group) is
//! still atomic and refused on its own (see `append`), and each caller gets its own results.
//!
//! The queue is bounded ([`MAX_QUEUED_JOBS`]): when the writer falls behind, callers wait to
//! queue instead of memory growing without limit.
//!
//! Other writes may run on the same thread as *tasks*, in queue order between batches: on
//! SQLite the outbox's claims and completions do, so every write of the process goes through one
//! connection and none waits in SQLite's busy handler for another of ours.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use event_store::{AppendOutcome, AppendRequest, GroupOutcome, StoreError};

use crate::append::UnitResult;

/// The most appends one transaction carries; bounds latency and transaction size.
pub(crate) const MAX_BATCH: usize = 512;

/// The most callers' hand-offs waiting for the writer. A caller that finds the queue full blocks
/// until the writer takes a batch: back-pressure, not unbounded memory. Each hand-off is one
/// `append`, one `append_batch` or one `append_atomic`; 1,024 of them is two full batches and
/// more waiting than the writer can commit in a few milliseconds.
pub(crate) const MAX_QUEUED_JOBS: usize = 1_024;

/// A database that can commit a batch of units (single appends or atomic groups) in one
/// transaction.
pub(crate) trait BatchWriter: Send + 'static {
    /// Commits the batch; one result per unit, in order. If the commit itself fails, every unit
    /// of the batch fails: none of them was written.
    fn write_batch(&mut self, units: &[Vec<AppendRequest>]) -> Vec<UnitResult>;
}

type Reply = mpsc::SyncSender<Vec<UnitResult>>;

/// Work for the writer thread, run with the writer itself.
pub(crate) type Task<W> = Box<dyn FnOnce(&mut W) + Send>;

/// One caller's units and where their results go, or a task.
enum Job<W> {
    Units {
        units: Vec<Vec<AppendRequest>>,
        reply: Reply,
    },
    Task(Task<W>),
}

/// The queue in front of one writer thread.
pub(crate) struct GroupCommit<W> {
    sender: Option<mpsc::SyncSender<Job<W>>>,
    writer: Option<JoinHandle<()>>,
    /// Hand-offs queued and not yet taken by the writer.
    depth: Arc<AtomicIsize>,
}

/// A single append's outcome from its unit's.
pub(crate) fn single(result: UnitResult) -> Result<AppendOutcome, StoreError> {
    match result? {
        GroupOutcome::AlreadyApplied(prior) => Ok(AppendOutcome::AlreadyApplied(prior)),
        GroupOutcome::Committed(mut committed) => match (committed.pop(), committed.is_empty()) {
            (Some(one), true) => Ok(AppendOutcome::Committed(one)),
            _ => Err(StoreError::Unavailable(
                "the writer answered a single append with another shape".into(),
            )),
        },
    }
}

impl<W: BatchWriter> GroupCommit<W> {
    /// Starts the writer thread.
    pub(crate) fn spawn(name: &str, writer: W) -> Result<Self, StoreError> {
        let (sender, receiver) = mpsc::sync_channel::<Job<W>>(MAX_QUEUED_JOBS);
        let depth = Arc::new(AtomicIsize::new(0));
        let taken = Arc::clone(&depth);
        let writer = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(writer, &receiver, &taken))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
            depth,
        })
    }

    /// Hand-offs waiting for the writer right now (at most [`MAX_QUEUED_JOBS`]).
    pub(crate) fn depth(&self) -> usize {
        // The writer may count a job taken before its sender counted it queued: never below 0.
        usize::try_from(self.depth.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Queues one append and waits for its own result.
    pub(crate) fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.submit(vec![vec![request]])
            .pop()
            .map_or_else(|| Err(gone()), single)
    }

    /// Queues several independent appends in one hand-off and waits for their results, in order.
    pub(crate) fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, StoreError>> {
        let units = requests.into_iter().map(|r| vec![r]).collect();
        self.submit(units).into_iter().map(single).collect()
    }

    /// Queues an atomic group and waits for its result.
    pub(crate) fn append_atomic(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<GroupOutcome, StoreError> {
        if requests.is_empty() {
            return Err(StoreError::InvalidAppend(
                "an atomic group needs at least one append".into(),
            ));
        }
        self.submit(vec![requests])
            .pop()
            .unwrap_or_else(|| Err(gone()))
    }

    /// Runs `work` on the writer thread, with the writer, in queue order, and waits for its
    /// answer.
    pub(crate) fn run_task<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut W) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let task: Task<W> = Box::new(move |writer: &mut W| {
            let _ = reply.send(work(writer));
        });
        let sender = self.sender.as_ref().ok_or_else(gone)?;
        sender.send(Job::Task(task)).map_err(|_| gone())?;
        self.depth.fetch_add(1, Ordering::Relaxed);
        answer.recv().unwrap_or_else(|_| Err(gone()))
    }

    fn submit(&self, units: Vec<Vec<AppendRequest>>) -> Vec<UnitResult> {
        let count = units.len();
        if count == 0 {
            return Vec::new();
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self.sender.as_ref().is_some_and(|sender| {
            let sent = sender.send(Job::Units { units, reply }).is_ok();
            if sent {
                self.depth.fetch_add(1, Ordering::Relaxed);
            }
            sent
        });
        match answer.recv() {
            Ok(results) if sent && results.len() == count => results,
            Ok(_) | Err(_) => (0..count).map(|_| Err(gone())).collect(),
        }
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the writer thread has stopped".into())
}

impl<W> Drop for GroupCommit<W> {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and stop.
        drop(self.sender.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn run<W: BatchWriter>(mut writer: W, receiver: &mpsc::Receiver<Job<W>>, depth: &AtomicIsize) {
    // A task met while gathering a batch runs right after that batch, keeping queue order.
    let mut next: Option<Job<W>> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => {
                    depth.fetch_sub(1, Ordering::Relaxed);
                    job
                }
                Err(_) => return,
            },
        };
        let (units, reply) = match first {
            Job::Task(task) => {
                task(&mut writer);
                continue;
            }
            Job::Units { units, reply } => (units, reply),
        };
        let mut count: usize = units.iter().map(Vec::len).sum();
        let mut replies = vec![(reply, units.len())];
        let mut batch = units;
        while count < MAX_BATCH {
            match receiver.try_recv() {
                Ok(Job::Units { units, reply }) => {
                    depth.fetch_sub(1, Ordering::Relaxed);
                    count += units.iter().map(Vec::len).sum::<usize>();
                    replies.push((reply, units.len()));
                    batch.extend(units);
                }
                Ok(task @ Job::Task(_)) => {
                    depth.fetch_sub(1, Ordering::Relaxed);
                    next = Some(task);
                    break;
                }
                Err(_) => break,
            }
        }
        answer(writer.write_batch(&batch), replies);
    }
}

/// Hands each caller of a batch its own results, in order.
fn answer(results: Vec<UnitResult>, replies: Vec<(Reply, usize)>) {
    let mut results = results.into_iter();
    for (reply, count) in replies {
        let mine: Vec<UnitResult> = (0..count)
            .map(|_| {
                results.next().unwrap_or_else(|| {
                    Err(StoreError::Unavailable(
                        "the writer returned too few results".into(),
                    ))
                })
            })
            .collect();
        // A caller that gave up waiting is not an error for the others.
        let _ = reply.send(mine);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Barrier};

    /// A writer that holds its first batch until released, then answers every unit.
    struct Gate(Arc<Barrier>, bool);

    impl BatchWriter for Gate {
        fn write_batch(&mut self, units: &[Vec<AppendRequest>]) -> Vec<UnitResult> {
            if !self.1 {
                self.1 = true;
                self.0.wait();
            }
            units
                .iter()
                .map(|_| Err(StoreError::Unavailable("test writer".into())))
                .collect()
        }
    }

    #[test]
    fn callers_wait_when_the_queue_is_full_instead_of_growing_it() {
        // Given a writer stuck on its first batch
        let barrier = Arc::new(Barrier::new(2));
        let commit =
            Arc::new(GroupCommit::spawn("test-writer", Gate(barrier.clone(), false)).unwrap());
        let request = || {
            let at = core_npp::Timestamp::EPOCH;
            let event = event_store::NewEvent::new("T", 1, at, "{}".into()).unwrap();
            let stream = event_store::StreamId::parse("s-1").unwrap();
            AppendRequest::new(stream, 0, vec![event], at).unwrap()
        };
        // When more callers hand off appends than the writer can take in one batch plus what the
        // queue holds
        let callers_count = MAX_BATCH + MAX_QUEUED_JOBS + 64;
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let callers: Vec<_> = (0..callers_count)
            .map(|_| {
                let (commit, started) = (commit.clone(), started.clone());
                std::thread::spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    commit.append(request()).is_err()
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while (started.load(Ordering::SeqCst) < callers_count || commit.depth() < MAX_QUEUED_JOBS)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Then the queue holds its bound and no more (the writer took at most one batch): the
        // other callers wait to queue
        assert_eq!(commit.depth(), MAX_QUEUED_JOBS);
        // And once the writer moves, every caller gets its answer and the queue drains
        barrier.wait();
        for caller in callers {
            assert!(caller.join().unwrap());
        }
        assert_eq!(commit.depth(), 0);
    }
}
