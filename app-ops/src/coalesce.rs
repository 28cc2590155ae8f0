//! Command coalescing: concurrent single commands share one hand-off to the store. Every single
//! command (`create_intent`, `authorise`, `record_sent_with`, `record_rail_outcome`) joins one
//! queue; whoever runs the queue takes everything waiting (up to [`MAX_COALESCED`]) and runs it
//! through [`Payments::run_batch`]: each command decided alone, all appended in one
//! `append_batch`, anything unusual re-run alone, so every caller gets exactly the result it
//! would have had alone.
//!
//! Two ways to run the queue. Threads calling a command wait for their own result; when nobody
//! is running the queue, the caller runs it (flat combining: no thread is added, and an
//! uncontended caller runs its command directly). An asynchronous caller (a web request) must not
//! block its thread, so it *submits* the command with a callback, and dedicated threads running
//! [`Payments::serve_commands`] run the queue; with such servers running, waiting threads leave
//! the queue to them too. Two or more servers overlap: one decides the next round while another
//! waits for its commit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use core_npp::{AttemptId, Money, PaymentIntentId};
use event_store::OutboxMessage;

use crate::batch::Command;
use crate::commands::{NewIntent, Outcome, Payments, RailOutcome};
use crate::error::AppError;

/// The most commands one round runs: bounds a round's latency and the size of its batch.
pub const MAX_COALESCED: usize = 512;

/// The most commands waiting to run. A caller that finds the queue full waits (a thread) or is
/// told so at once (a submission, answered with `app/overloaded`), so memory never grows with
/// the load; 16,384 waiting commands is 32 full rounds.
pub const MAX_QUEUED_COMMANDS: usize = 16_384;

/// A single command, owning what it names: it may run on another thread than its caller's.
#[derive(Clone, Debug)]
pub enum OwnedCommand {
    /// [`Payments::create_intent`].
    CreateIntent(NewIntent),
    /// [`Payments::authorise`].
    Authorise {
        /// The payment.
        id: PaymentIntentId,
        /// Whether our policy checks passed.
        policy_checks_passed: bool,
        /// The payer's available funds, from core banking.
        available: Money,
    },
    /// [`Payments::record_sent_with`].
    RecordSent {
        /// The payment.
        id: PaymentIntentId,
        /// The attempt handed to the rail.
        attempt_id: AttemptId,
        /// The message to deliver, written to the outbox in the same commit.
        submission: Option<OutboxMessage>,
    },
    /// [`Payments::record_rail_outcome`].
    RailOutcome {
        /// The payment.
        id: PaymentIntentId,
        /// The rail's message id.
        message_id: String,
        /// The message as the rail delivered it, kept with the claim (`None`: none to keep).
        payload: Option<String>,
        /// What the rail said.
        outcome: RailOutcome,
    },
}

impl OwnedCommand {
    /// The command, borrowed, as a batch takes it.
    pub fn as_command(&self) -> Command<'_> {
        match self {
            OwnedCommand::CreateIntent(intent) => Command::CreateIntent(intent),
            OwnedCommand::Authorise {
                id,
                policy_checks_passed,
                available,
            } => Command::Authorise {
                id: *id,
                policy_checks_passed: *policy_checks_passed,
                available: *available,
            },
            OwnedCommand::RecordSent {
                id,
                attempt_id,
                submission,
            } => Command::RecordSent {
                id: *id,
                attempt_id: *attempt_id,
                submission: submission.as_ref(),
            },
            OwnedCommand::RailOutcome {
                id,
                message_id,
                payload,
                outcome,
            } => Command::RailOutcome {
                id: *id,
                message_id,
                payload: payload.as_deref(),
                outcome,
            },
        }
    }
}

/// A command's result, as its caller receives it.
pub type CommandResult = Result<Outcome, AppError>;

/// What a submitter is called back with.
pub type Callback = Box<dyn FnOnce(CommandResult) + Send>;

/// Where a waiting thread's turn stands.
enum Turn {
    Waiting,
    /// The previous leader handed this caller the lead: it runs the next round.
    Lead,
    Done(Box<CommandResult>),
}

/// One waiting thread's place: its turn, and the condition it waits on.
struct Slot {
    turn: Mutex<Turn>,
    changed: Condvar,
}

impl Slot {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            turn: Mutex::new(Turn::Waiting),
            changed: Condvar::new(),
        })
    }

    fn set(&self, turn: Turn) {
        *lock(&self.turn) = turn;
        self.changed.notify_one();
    }
}

/// How a queued command's result reaches its caller.
enum Reply {
    Waiter(Arc<Slot>),
    Callback(Callback),
}

impl Reply {
    fn deliver(self, result: CommandResult) {
        match self {
            Reply::Waiter(slot) => slot.set(Turn::Done(Box::new(result))),
            Reply::Callback(callback) => callback(result),
        }
    }
}

struct Queued {
    command: OwnedCommand,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    /// Whether a waiting thread is running a round now (flat combining, when no server runs).
    leading: bool,
    /// Server threads running the queue.
    servers: usize,
    /// Servers are asked to finish what is queued and return.
    stopping: bool,
}

/// The queue in front of one [`Payments`].
#[derive(Default)]
pub(crate) struct Coalescer {
    queue: Mutex<Queue>,
    /// Signalled when work arrives, for the servers (and for threads waiting for queue room).
    work: Condvar,
    room: Condvar,
    commands: AtomicU64,
    rounds: AtomicU64,
}

/// How much sharing coalescing achieved: commands run, in how many rounds (hand-offs).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CoalescingStats {
    /// Single commands run through the queue.
    pub commands: u64,
    /// Rounds they ran in: each one hand-off to the store.
    pub rounds: u64,
    /// Commands waiting now.
    pub queued: usize,
    /// Threads serving the queue now ([`Payments::serve_commands`]).
    pub servers: usize,
}

/// The state behind a lock, whatever a panicking holder left: every holder leaves it consistent
/// (a round guard answers every caller of its round), so a poisoned lock is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait<'m, T>(condvar: &Condvar, guard: MutexGuard<'m, T>) -> MutexGuard<'m, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

impl Coalescer {
    /// What has been shared so far.
    pub(crate) fn stats(&self) -> CoalescingStats {
        let queue = lock(&self.queue);
        CoalescingStats {
            commands: self.commands.load(Ordering::Relaxed),
            rounds: self.rounds.load(Ordering::Relaxed),
            queued: queue.waiting.len(),
            servers: queue.servers,
        }
    }

    /// Waits until `count` threads serve the queue, or `timeout` passes; whether they do.
    pub(crate) fn wait_for_servers(&self, count: usize, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut queue = lock(&self.queue);
        while queue.servers < count {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return false;
            };
            queue = match self.room.wait_timeout(queue, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Runs `command` with whatever else is queued, on this thread or a server's, and returns
    /// its own result. A full queue makes the caller wait for room.
    pub(crate) fn run(&self, payments: &Payments<'_>, command: OwnedCommand) -> CommandResult {
        let slot = Slot::new();
        let lead = {
            let mut queue = lock(&self.queue);
            while queue.waiting.len() >= MAX_QUEUED_COMMANDS {
                queue = wait(&self.room, queue);
            }
            queue.waiting.push_back(Queued {
                command,
                reply: Reply::Waiter(Arc::clone(&slot)),
            });
            if queue.servers > 0 {
                self.work.notify_one();
                false
            } else {
                let lead = !queue.leading;
                queue.leading = true;
                lead
            }
        };
        if lead {
            self.round(payments, true);
        }
        loop {
            let mut turn = lock(&slot.turn);
            while matches!(*turn, Turn::Waiting) {
                turn = wait(&slot.changed, turn);
            }
            match std::mem::replace(&mut *turn, Turn::Waiting) {
                Turn::Done(result) => return *result,
                Turn::Lead => {
                    drop(turn);
                    self.round(payments, true);
                }
                Turn::Waiting => {}
            }
        }
    }

    /// Queues `command` for the servers; `done` is called with its result on a server's thread.
    /// Never blocks: without a server running, or with the queue full, `done` is called at once
    /// with the refusal.
    pub(crate) fn submit(&self, command: OwnedCommand, done: Callback) {
        let refused = {
            let mut queue = lock(&self.queue);
            if queue.servers == 0 || queue.stopping {
                Some(AppError::refused(
                    "app/not-serving",
                    "no thread is serving commands (Payments::serve_commands); run the command \
                     from a thread instead",
                ))
            } else if queue.waiting.len() >= MAX_QUEUED_COMMANDS {
                Some(AppError::refused(
                    "app/overloaded",
                    format!(
                        "{MAX_QUEUED_COMMANDS} commands are already waiting to run; try again shortly"
                    ),
                ))
            } else {
                queue.waiting.push_back(Queued {
                    command,
                    reply: Reply::Callback(done),
                });
                self.work.notify_one();
                return;
            }
        };
        if let Some(refusal) = refused {
            done(Err(refusal));
        }
    }

    /// Runs the queue on this thread until [`Coalescer::stop`]; what is queued when it is asked
    /// to stop still runs.
    pub(crate) fn serve(&self, payments: &Payments<'_>) {
        {
            let mut queue = lock(&self.queue);
            queue.servers += 1;
        }
        self.room.notify_all();
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.waiting.is_empty() && !queue.stopping {
                    queue = wait(&self.work, queue);
                }
                if queue.waiting.is_empty() {
                    queue.servers -= 1;
                    // The last server out: serving may start again.
                    queue.stopping = queue.servers > 0;
                    return;
                }
            }
            self.round(payments, false);
        }
    }

    /// Asks every server to finish what is queued and return.
    pub(crate) fn stop(&self) {
        lock(&self.queue).stopping = true;
        self.work.notify_all();
    }

    /// One round: take what is queued, run it, hand the lead on (a thread's round), deliver
    /// every result.
    fn round(&self, payments: &Payments<'_>, as_thread: bool) {
        let batch: Vec<Queued> = {
            let mut queue = lock(&self.queue);
            let take = queue.waiting.len().min(MAX_COALESCED);
            queue.waiting.drain(..take).collect()
        };
        self.room.notify_all();
        if batch.is_empty() {
            if as_thread {
                self.hand_on();
            }
            return;
        }
        self.rounds.fetch_add(1, Ordering::Relaxed);
        self.commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut guard = Round {
            coalescer: self,
            batch,
            as_thread,
        };
        let results = {
            let commands: Vec<Command<'_>> =
                guard.batch.iter().map(|q| q.command.as_command()).collect();
            match commands.as_slice() {
                [one] => vec![payments.run(one)],
                many => payments.run_batch(many),
            }
        };
        let batch = guard.take();
        for (queued, result) in batch.into_iter().zip(results) {
            queued.reply.deliver(result);
        }
    }

    /// After a thread's round: give the lead to the first waiting thread (or the servers), or
    /// free it.
    fn hand_on(&self) {
        let mut queue = lock(&self.queue);
        if queue.servers > 0 {
            queue.leading = false;
            if !queue.waiting.is_empty() {
                self.work.notify_one();
            }
            return;
        }
        let next = queue.waiting.iter().find_map(|q| match &q.reply {
            Reply::Waiter(slot) => Some(Arc::clone(slot)),
            Reply::Callback(_) => None,
        });
        match next {
            Some(slot) => slot.set(Turn::Lead),
            None => queue.leading = false,
        }
    }
}

/// A round in progress. If its thread unwinds (a defect), every caller of the round is answered
/// with an error and the lead is handed on, so nobody waits for ever.
struct Round<'c> {
    coalescer: &'c Coalescer,
    batch: Vec<Queued>,
    as_thread: bool,
}

impl Round<'_> {
    /// The round's callers, to answer; the lead is handed on first, so the next round can start
    /// while they are answered.
    fn take(&mut self) -> Vec<Queued> {
        if self.as_thread {
            self.coalescer.hand_on();
            self.as_thread = false;
        }
        std::mem::take(&mut self.batch)
    }
}

impl Drop for Round<'_> {
    fn drop(&mut self) {
        for queued in self.take() {
            queued.reply.deliver(Err(AppError::refused(
                "app/command-aborted",
                "the thread running this command stopped before it finished; run it again",
            )));
        }
    }
}
