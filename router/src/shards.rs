//! Thread per core for the data path. A shard is a thread running its own single-threaded tokio
//! runtime. Each client connection and each carrier bind lives on one shard; a message goes to a
//! carrier bind on the shard it arrived on, and a receipt to a client session on the shard it
//! came in on, when one there can take it — so a message's work mostly stays on one core: no
//! wake-up of another core's task, no cache lines moving between cores per message. Against one
//! work-stealing runtime for everything, `bench/run.sh carrier` measured ~10 % less router CPU
//! per message and ~10 % more messages carried (figures in docs/performance.md).
//!
//! `app::start` starts a router's shards and hands them to what spawns data-path tasks (the
//! server's connections, the carrier binds); [`Shards::none`] runs those tasks on the caller's
//! runtime instead (tests that build a server without a router, benchmarks).

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A set of shard threads.
pub struct Shards {
    handles: Vec<Handle>,
    /// Tasks given by [`Shards::spawn`] still running, per shard.
    live: Vec<Arc<AtomicUsize>>,
    next: AtomicUsize,
    /// The shard of the next carrier channel's first bind (see [`Shards::deal`]).
    next_dealt: AtomicUsize,
}

/// The shard threads themselves, owned by whoever started them (the router's `Running`):
/// [`Threads::stop`] stops and joins them; dropping them stops them without waiting. Kept apart
/// from [`Shards`], which the tasks on the shards may hold, so that the threads never keep
/// themselves alive.
pub struct Threads(Vec<(oneshot::Sender<()>, JoinHandle<()>)>);

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
    static TURN: Cell<usize> = const { Cell::new(0) };
}

/// How long a stopping shard waits for its blocking tasks.
const STOP_WAIT: Duration = Duration::from_secs(1);

impl Shards {
    /// Starts `n` shard threads (at least one), named `shard-0` ….
    pub fn start(n: usize) -> std::io::Result<(Self, Threads)> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("shard-{i}"))
                .spawn(move || {
                    CURRENT.with(|c| c.set(Some(i)));
                    let _ = runtime.block_on(stopped);
                    runtime.shutdown_timeout(STOP_WAIT);
                })?;
            threads.push((stop, thread));
        }
        let shards = Self {
            live: (0..n).map(|_| Arc::default()).collect(),
            handles,
            next: AtomicUsize::new(0),
            next_dealt: AtomicUsize::new(0),
        };
        Ok((shards, Threads(threads)))
    }

    /// No shard threads: tasks run on the caller's runtime (tests, the tools).
    pub fn none() -> Self {
        Self {
            handles: Vec::new(),
            live: Vec::new(),
            next: AtomicUsize::new(0),
            next_dealt: AtomicUsize::new(0),
        }
    }

    /// How many shards there are (0 for [`Shards::none`]).
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Tasks given by [`Shards::spawn`] (client connections) running on each shard.
    pub fn connections(&self) -> Vec<usize> {
        self.live
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect()
    }

    /// The first of `n` shards in a row for a carrier channel's binds: channels are dealt out
    /// one after another, so that the first binds of several channels do not all share the
    /// first shard.
    pub fn deal(&self, n: usize) -> usize {
        self.next_dealt.fetch_add(n, Ordering::Relaxed)
    }

    /// Runs `task` on shard `i` (modulo the count), or on the caller's runtime without shards.
    pub fn spawn_on<F>(&self, i: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.handles.len() {
            0 => drop(tokio::spawn(task)),
            // A stopped shard drops the task at once.
            n => drop(self.handles[i % n].spawn(task)),
        }
    }

    /// Runs `task` on the shard with the fewest tasks given this way still running (the next in
    /// turn among equals): a long-lived client connection goes where there are fewest.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let n = self.handles.len();
        if n == 0 {
            return drop(tokio::spawn(task));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let i = (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| self.live[i].load(Ordering::Relaxed))
            .unwrap_or(0);
        let live = Held::new(self.live[i].clone());
        self.spawn_on(i, async move {
            let _live = live;
            task.await;
        });
    }
}

impl Threads {
    /// Stops every shard: their tasks are dropped, and the threads joined.
    pub fn stop(mut self) {
        for (stop, thread) in std::mem::take(&mut self.0) {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// Holds one in a shared count while alive (a task running on a shard, a delivery waiting on
/// a session).
pub struct Held(Arc<AtomicUsize>);

impl Held {
    /// Adds one to `count`, until dropped.
    pub fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The shard this thread runs, if it is one.
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// A counter of this thread's own, for taking turns without sharing a cache line with the
/// other shards.
pub fn turn() -> usize {
    TURN.with(|t| {
        let n = t.get();
        t.set(n.wrapping_add(1));
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tasks run on the shard they were given, in turn when none was, with working timers and
    /// sockets; stopping drops what is left and joins the threads.
    #[test]
    fn tasks_run_on_their_shard_until_stopped() {
        let (shards, threads) = Shards::start(3).expect("shards");
        assert_eq!(shards.count(), 3);
        assert_eq!(current(), None);
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..6 {
            let tx = tx.clone();
            shards.spawn_on(i, async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = tx.send((i, current()));
            });
        }
        let mut seen: Vec<_> = (0..6).map(|_| rx.recv().expect("ran")).collect();
        seen.sort();
        let want: Vec<_> = (0..6).map(|i| (i, Some(i % 3))).collect();
        assert_eq!(seen, want);

        let mut turns = Vec::new();
        for _ in 0..3 {
            let tx = tx.clone();
            shards.spawn(async move {
                let _ = tx.send((0, current()));
            });
            turns.push(rx.recv().expect("ran").1.expect("on a shard"));
        }
        turns.sort();
        assert_eq!(turns, [0, 1, 2]);

        // Long-lived tasks: the next goes to the shard with the fewest. The short tasks above
        // must have ended first (they may still count as live for a moment on a busy machine:
        // two long tasks would then share a shard).
        let t0 = std::time::Instant::now();
        while shards.live.iter().any(|n| n.load(Ordering::Relaxed) > 0) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the short tasks end"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut hold = Vec::new();
        let mut placed = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = std::sync::mpsc::channel();
            let (release, released) = oneshot::channel::<()>();
            shards.spawn(async move {
                let _ = tx.send(current());
                let _ = released.await;
            });
            placed.push(rx.recv().expect("ran").expect("on a shard"));
            hold.push(release);
        }
        let freed = placed[1];
        let _ = hold.remove(1).send(());
        let t0 = std::time::Instant::now();
        while shards.live[freed].load(Ordering::Relaxed) > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the released task ends"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        shards.spawn(async move {
            let _ = tx.send(current());
            std::future::pending::<()>().await;
        });
        assert_eq!(
            rx.recv().expect("ran"),
            Some(freed),
            "the shard with fewest"
        );

        // A socket opened on a shard works there.
        let (tx_addr, rx_addr) = std::sync::mpsc::channel();
        shards.spawn_on(1, async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let _ = tx_addr.send(listener.local_addr().expect("addr"));
            let (mut sock, _) = listener.accept().await.expect("accept");
            tokio::io::AsyncWriteExt::write_all(&mut sock, b"hi")
                .await
                .expect("write");
        });
        let addr = rx_addr.recv().expect("listening");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let mut got = [0u8; 2];
        std::io::Read::read_exact(&mut client, &mut got).expect("read");
        assert_eq!(&got, b"hi");

        // A task still waiting is dropped at the stop, and so is what it holds.
        let (held, gone) = oneshot::channel::<()>();
        shards.spawn_on(2, async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        threads.stop();
        assert!(gone.blocking_recv().is_err(), "the task was dropped");
        // Later tasks are dropped at once.
        let (held, gone) = oneshot::channel::<()>();
        shards.spawn_on(0, async move {
            let _held = held;
        });
        assert!(gone.blocking_recv().is_err());
    }
}
