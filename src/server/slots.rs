//! Connection slots: at most `cap` connections are served at once. Past the cap, a new
//! connection is admitted at once and the open connection that has gone longest without
//! moving a byte (idle keep-alive, a half-sent head, a client not reading its response) is
//! closed for it, so a flood of idle or half-open connections cannot keep Prometheus waiting
//! for a timeout to free a slot. The cap is also held under the process's file-descriptor
//! limit, so `accept` never fails with EMFILE because of connections alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the table needs of a connection.
pub trait Connection {
    /// Time since a byte last moved either way (since the accept, if none has).
    fn stale_ms(&self) -> u64;
    /// Gives the slot up: the connection closes at once.
    fn evict(&self);
}

/// Descriptors kept for everything but client connections: the listener, the sampler's
/// procfs and cgroupfs reads, app-metrics and probe clients, logs.
pub const RESERVED_FDS: u64 = 64;

/// The connection table; shared by the accept loop and every connection's [`Slot`].
#[derive(Debug)]
pub struct Slots<C> {
    cap: usize,
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<C>>>,
    evictions: AtomicU64,
}

/// A connection's place in the table; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot<C> {
    id: u64,
    slots: Arc<Slots<C>>,
}

impl<C> Drop for Slot<C> {
    fn drop(&mut self) {
        self.slots.table().remove(&self.id);
    }
}

impl<C: Connection> Slots<C> {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Slots {
            cap: cap.max(1),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::with_capacity(cap.clamp(1, 1024))),
            evictions: AtomicU64::new(0),
        })
    }

    /// Takes a slot for a new connection, closing the stalest open one when the table is full.
    pub fn admit(self: &Arc<Self>, conn: Arc<C>) -> Slot<C> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut live = self.table();
        while live.len() >= self.cap {
            let Some(victim) = stalest(&live) else { break };
            if let Some(c) = live.remove(&victim) {
                c.evict();
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        live.insert(id, conn);
        Slot {
            id,
            slots: self.clone(),
        }
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.table().len()
    }

    /// Connections closed so far to make room for new ones.
    #[cfg(test)]
    fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

impl<C> Slots<C> {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<C>>> {
        // The table holds no invariant a panicking holder could break half-way.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stalest<C: Connection>(live: &HashMap<u64, Arc<C>>) -> Option<u64> {
    live.iter()
        .max_by_key(|(id, c)| (c.stale_ms(), std::cmp::Reverse(**id)))
        .map(|(id, _)| *id)
}

/// The connection cap that fits the descriptor limit: `wanted`, or less when the soft limit
/// (raised to the hard one where allowed, as Go's runtime does) leaves no room for it beside
/// [`RESERVED_FDS`]. Returns the cap and the soft limit in force.
pub fn fit_to_fd_limit(wanted: usize) -> (usize, Option<u64>) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (wanted, None);
    };
    let needed = u64::try_from(wanted)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVED_FDS);
    let soft = if soft < needed && hard > soft {
        let raised = needed.min(hard);
        match setrlimit(Resource::RLIMIT_NOFILE, raised, hard) {
            Ok(()) => raised,
            Err(_) => soft,
        }
    } else {
        soft
    };
    let room = usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    (wanted.min(room).max(1), Some(soft))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{ConnClock, Limits};
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_full_table_closes_the_stalest_connection() {
        let slots = Slots::new(3);
        let clocks: Vec<Arc<ConnClock>> = (0..4)
            .map(|_| Arc::new(ConnClock::new(&Limits::default())))
            .collect();
        let held: Vec<Slot<ConnClock>> =
            clocks[..3].iter().map(|c| slots.admit(c.clone())).collect();
        tokio::time::advance(Duration::from_millis(300)).await;
        // The first and third move bytes; the second has been silent since its accept.
        clocks[0].bytes_read();
        clocks[2].bytes_written();
        let _fourth = slots.admit(clocks[3].clone());
        assert_eq!(slots.open(), 3);
        assert_eq!(slots.evictions(), 1);
        assert!(clocks[1].is_evicted());
        assert!(!clocks[0].is_evicted() && !clocks[2].is_evicted());
        // The evicted connection's task resolves at once.
        let t0 = tokio::time::Instant::now();
        clocks[1].expired().await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        // Its slot guard, dropped later, removes nothing else.
        drop(held);
        assert_eq!(slots.open(), 1);
    }

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        use nix::sys::resource::{Resource, getrlimit};
        let (cap, soft) = fit_to_fd_limit(256);
        let (now_soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, Some(now_soft));
        assert!(now_soft >= 256 + RESERVED_FDS || now_soft == hard);
        assert_eq!(cap as u64, 256.min(now_soft - RESERVED_FDS));
        // More than the hard limit allows: the soft limit goes up to the hard one, the cap
        // stays under it.
        let beyond = usize::try_from(hard)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let (cap, soft) = fit_to_fd_limit(beyond);
        assert_eq!(soft, Some(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0));
        assert_eq!(cap as u64, soft.unwrap() - RESERVED_FDS);
    }
}
