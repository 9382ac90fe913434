//! A simulated channel, as an smpp-router plugin: every submit completes from the plugin's own
//! timer thread after `latency`, and a receipt follows `receipt_delay` later. Outcomes depend on
//! the destination prefix, so tests and demos can steer them:
//!
//! ```toml
//! [[channel]]
//! name = "sim"
//! kind = "plugin"
//! path = "target/release/libsmpp_router_plugin_simulated.so"
//! [channel.config]
//! latency = "20ms"                 # until the submit completes (0: at once, inside submit)
//! receipt_delay = "100ms"          # from acceptance to the receipt
//! refuse_prefixes = ["+1555"]      # refused with ESME_RINVDSTADR (0x0B)
//! undeliverable_prefixes = ["+1666"]  # accepted, then an UNDELIV receipt (err 001)
//! decline_prefixes = ["+1777"]     # "not for me": the route's next channel takes them
//! decline_parts = false            # true: parts of long messages are not for it either
//! needs_code = false               # true: texts without a one-time code are not for it (the
//!                                  # router finds the code, as for iMessage)
//! id_prefix = "sim-"               # the channel's message ids
//! ```
//!
//! It is also the reference for a plugin that owns its threads: one timer thread, started in
//! `create` and joined in `Drop`; `drain` waits (up to 5 s) until every pending completion and
//! receipt went out.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;
use smpp_router_plugin_api::{
    Completion, Host, Level, Message, Outcome, Plugin, Receipt, State, export_plugin,
};

/// How long `drain` waits for pending work.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_latency")]
    latency: String,
    #[serde(default = "default_receipt_delay")]
    receipt_delay: String,
    #[serde(default)]
    refuse_prefixes: Vec<String>,
    #[serde(default)]
    undeliverable_prefixes: Vec<String>,
    #[serde(default)]
    decline_prefixes: Vec<String>,
    #[serde(default)]
    decline_parts: bool,
    #[serde(default)]
    needs_code: bool,
    #[serde(default = "default_id_prefix")]
    id_prefix: String,
}

fn default_latency() -> String {
    "20ms".into()
}

fn default_receipt_delay() -> String {
    "100ms".into()
}

fn default_id_prefix() -> String {
    "sim-".into()
}

/// Work due at a time.
enum Job {
    Complete(Completion, Outcome),
    Receipt(Receipt),
}

struct Timed {
    at: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Timed {}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timed {
    /// Reversed, so the max-heap pops the earliest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: Mutex<BinaryHeap<Timed>>,
    changed: Condvar,
    stop: AtomicBool,
    /// Jobs taken from the heap and not finished yet.
    running: AtomicU64,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Timed>> {
        self.heap.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The simulated channel.
pub struct Simulated {
    host: Host,
    latency: Duration,
    receipt_delay: Duration,
    refuse: Vec<String>,
    undeliverable: Vec<String>,
    decline: Vec<String>,
    decline_parts: bool,
    needs_code: bool,
    id_prefix: String,
    /// When this instance started (ms since the Unix epoch), part of every id.
    epoch: u64,
    next_id: AtomicU64,
    draining: AtomicBool,
    queue: Arc<Queue>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

fn duration(what: &str, text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|e| format!("{what} = {text:?}: {e}"))
}

/// The validated configuration.
struct Settings {
    latency: Duration,
    receipt_delay: Duration,
    refuse: Vec<String>,
    undeliverable: Vec<String>,
    decline: Vec<String>,
    decline_parts: bool,
    needs_code: bool,
    id_prefix: String,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
        Ok(Self {
            latency: duration("latency", &config.latency)?,
            receipt_delay: duration("receipt_delay", &config.receipt_delay)?,
            refuse: config.refuse_prefixes,
            undeliverable: config.undeliverable_prefixes,
            decline: config.decline_prefixes,
            decline_parts: config.decline_parts,
            needs_code: config.needs_code,
            id_prefix: config.id_prefix,
        })
    }
}

impl Plugin for Simulated {
    fn validate(config: &str) -> Result<(), String> {
        Settings::parse(config).map(|_| ())
    }

    fn create(config: &str, host: Host) -> Result<Self, String> {
        let settings = Settings::parse(config)?;
        let queue = Arc::new(Queue::default());
        let timer = {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("simulated-plugin".into())
                .spawn(move || run_timer(&queue, host))
                .map_err(|e| format!("cannot start the timer thread: {e}"))?
        };
        Ok(Self {
            host,
            latency: settings.latency,
            receipt_delay: settings.receipt_delay,
            refuse: settings.refuse,
            undeliverable: settings.undeliverable,
            decline: settings.decline,
            decline_parts: settings.decline_parts,
            needs_code: settings.needs_code,
            id_prefix: settings.id_prefix,
            epoch: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            next_id: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            queue,
            timer: Mutex::new(Some(timer)),
        })
    }

    fn declines(&self, message: &Message<'_>) -> Option<u32> {
        // A part of a long message carries a user data header (esm_class UDHI, 0x40).
        let part = message.esm_class & 0x40 != 0;
        let to = message.destination;
        if (part && self.decline_parts) || self.decline.iter().any(|p| to.starts_with(p.as_str())) {
            // ESME_RINVDSTADR, should no later channel answer.
            return Some(0x0B);
        }
        if self.needs_code && self.host.otp_code(message.text).is_none() {
            // ESME_RINVMSGLEN, as the iMessage channel answers a text without a code.
            return Some(0x01);
        }
        None
    }

    fn submit(&self, message: Message<'_>, completion: Completion) {
        if self.draining.load(Ordering::Acquire) {
            return completion.complete(Outcome::NotSent);
        }
        let to = message.destination;
        if self.refuse.iter().any(|p| to.starts_with(p.as_str())) {
            return self.later(
                self.latency,
                Job::Complete(completion, Outcome::Refused(0x0B)),
            );
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Unique across instances and restarts: the router finds a receipt's message by this id.
        let id = format!("{}{:x}-{n:x}", self.id_prefix, self.epoch);
        let receipt = message.wants_receipt().then(|| {
            let undeliverable = self
                .undeliverable
                .iter()
                .any(|p| to.starts_with(p.as_str()));
            let (state, error) = if undeliverable {
                (State::Undeliverable, 1)
            } else {
                (State::Delivered, 0)
            };
            Receipt {
                message_id: id.clone(),
                state,
                error,
            }
        });
        self.later(
            self.latency,
            Job::Complete(
                completion,
                Outcome::Accepted {
                    message_id: id,
                    final_state: None,
                },
            ),
        );
        if let Some(receipt) = receipt {
            self.later(self.latency + self.receipt_delay, Job::Receipt(receipt));
        }
    }

    fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        let deadline = Instant::now() + DRAIN_WAIT;
        let busy =
            || !self.queue.lock().is_empty() || self.queue.running.load(Ordering::Acquire) > 0;
        while busy() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = self.queue.lock().len();
        if left > 0 {
            self.host.log(
                Level::Warn,
                &format!("drained with {left} jobs still pending"),
            );
        }
    }
}

impl Simulated {
    /// Runs `job` after `delay`: inline when there is no delay (the cheapest plugin there is,
    /// used to measure the cost of the boundary), else on the timer thread.
    fn later(&self, delay: Duration, job: Job) {
        if delay.is_zero() {
            return run_job(self.host, job);
        }
        let mut heap = self.queue.lock();
        let seq = self.next_id.fetch_add(1, Ordering::Relaxed);
        heap.push(Timed {
            at: Instant::now() + delay,
            seq,
            job,
        });
        drop(heap);
        self.queue.changed.notify_one();
    }
}

impl Drop for Simulated {
    fn drop(&mut self) {
        self.queue.stop.store(true, Ordering::Release);
        self.queue.changed.notify_all();
        let handle = self.timer.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn run_job(host: Host, job: Job) {
    match job {
        Job::Complete(completion, outcome) => completion.complete(outcome),
        Job::Receipt(receipt) => {
            if let Err(e) = host.emit_receipt(&receipt) {
                host.log(
                    Level::Warn,
                    &format!("the host did not take a receipt: {e:?}"),
                );
            }
        }
    }
}

/// The timer thread: runs jobs when they are due, until stopped. Jobs still queued at the stop
/// complete as not sent (their receipts are dropped), so no submit is left without an answer.
fn run_timer(queue: &Queue, host: Host) {
    let mut heap = queue.lock();
    loop {
        if queue.stop.load(Ordering::Acquire) {
            let left: Vec<Timed> = heap.drain().collect();
            drop(heap);
            for t in left {
                if let Job::Complete(c, _) = t.job {
                    c.complete(Outcome::NotSent);
                }
            }
            return;
        }
        let now = Instant::now();
        match heap.peek().map(|t| t.at) {
            Some(at) if at <= now => {
                if let Some(t) = heap.pop() {
                    queue.running.fetch_add(1, Ordering::AcqRel);
                    drop(heap);
                    run_job(host, t.job);
                    queue.running.fetch_sub(1, Ordering::AcqRel);
                    heap = queue.lock();
                }
            }
            Some(at) => {
                heap = queue
                    .changed
                    .wait_timeout(heap, at - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            None => {
                heap = queue.changed.wait(heap).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

export_plugin!(Simulated);

#[cfg(test)]
mod tests {
    use smpp_router_plugin_api::testing::{TestHost, TestMessage};

    use super::*;

    const CONFIG: &str = r#"{"latency":"5ms","receipt_delay":"10ms","refuse_prefixes":["+1555"],"undeliverable_prefixes":["+1666"]}"#;

    #[test]
    fn accepts_then_emits_the_receipt_from_its_own_thread() {
        let host = TestHost::start::<Simulated>(CONFIG).unwrap();
        let Outcome::Accepted {
            message_id,
            final_state: None,
        } = host
            .submit(&TestMessage::new("+447700900123", "hi"))
            .unwrap()
        else {
            panic!("not accepted");
        };
        assert!(message_id.starts_with("sim-"));
        let r = host.wait_receipt(Duration::from_secs(2)).unwrap();
        assert_eq!(
            (r.message_id, r.state, r.error),
            (message_id, State::Delivered, 0)
        );
    }

    #[test]
    fn outcomes_follow_the_destination_prefix() {
        let host = TestHost::start::<Simulated>(CONFIG).unwrap();
        assert_eq!(
            host.submit(&TestMessage::new("+15550001111", "x")).unwrap(),
            Outcome::Refused(0x0B)
        );
        host.submit(&TestMessage::new("+16660001111", "x")).unwrap();
        let r = host.wait_receipt(Duration::from_secs(2)).unwrap();
        assert_eq!((r.state, r.error), (State::Undeliverable, 1));
        let mut quiet = TestMessage::new("+447700900123", "x");
        quiet.registered_delivery = 0;
        host.submit(&quiet).unwrap();
        assert_eq!(host.wait_receipt(Duration::from_millis(100)), None);
    }

    #[test]
    fn declines_what_is_not_for_it() {
        let host = TestHost::start::<Simulated>(
            r#"{"latency":"0","decline_prefixes":["+1777"],"decline_parts":true}"#,
        )
        .unwrap();
        let plain = TestMessage::new("+447700900123", "x");
        assert_eq!(host.declines(&plain), Ok(None));
        assert_eq!(
            host.declines(&TestMessage::new("+17770001111", "x")),
            Ok(Some(0x0B))
        );
        let part = TestMessage {
            esm_class: 0x40,
            ..plain
        };
        assert_eq!(host.declines(&part), Ok(Some(0x0B)));
        let takes_parts = TestHost::start::<Simulated>("{}").unwrap();
        assert_eq!(takes_parts.declines(&part), Ok(None));
        // Without a code, as the host finds codes.
        let coded = TestHost::start::<Simulated>(r#"{"needs_code":true}"#).unwrap();
        let otp = TestMessage::new("+447700900123", "Your code is 482910");
        assert_eq!(coded.declines(&otp), Ok(Some(0x01)), "the host found none");
        coded.set_otp_codes(|t| t.contains("482910").then(|| "482910".into()));
        assert_eq!(coded.declines(&otp), Ok(None));
        assert_eq!(
            coded.declines(&TestMessage::new("+447700900123", "Hello")),
            Ok(Some(0x01))
        );
    }

    #[test]
    fn zero_latency_completes_inside_submit_and_bad_config_is_refused() {
        let host = TestHost::start::<Simulated>(r#"{"latency":"0","receipt_delay":"0"}"#).unwrap();
        host.submit(&TestMessage::new("+447700900123", "x"))
            .unwrap();
        assert!(host.wait_receipt(Duration::ZERO).is_some());
        let err = TestHost::start::<Simulated>(r#"{"latncy":"5ms"}"#).err();
        assert!(
            matches!(&err, Some(smpp_router_plugin_api::testing::TestError::Create(m)) if m.contains("latncy")),
            "{err:?}"
        );
        let checked = TestHost::validate::<Simulated>(r#"{"latency":"soon"}"#);
        assert!(
            matches!(&checked, Err(smpp_router_plugin_api::testing::TestError::Create(m)) if m.contains("latency")),
            "{checked:?}"
        );
        assert_eq!(TestHost::validate::<Simulated>("{}"), Ok(()));
    }
}
