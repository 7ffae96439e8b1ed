//! Network accounting of one target: reads its namespace through its main process, keeps
//! restart-proof totals, finds its own listening sockets, and decides namespace ownership.
//!
//! Counters mirror the cgroup counters: a namespace is identified by its inode. One seen for the
//! first time contributes its whole value (what happened in it since it was made: a Pod that
//! restarted into a new namespace); later ticks add the increase since its previous reading; a
//! value that went down (an interface recreated) contributes from zero. Previous readings are
//! kept for the [`MAX_REMEMBERED`] most recent namespaces, so moving back never counts twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::sample::{NetworkSample, TargetSample};
use crate::source::net::{
    DiagListener, InterfaceCounters, NetReader, NetReading, TcpFiles, diag_listeners,
};
use crate::source::proc::{ReadError, ReadFailure, Source};

const MAX_REMEMBERED: usize = 16;

/// Where the host's network namespace and sidewatch's own are, read once per tick.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Namespaces {
    /// The host's: that of kthreadd (pid 2), a kernel thread that lives in the initial namespace,
    /// when the procfs root shows it (not inside a Pod's pid namespace).
    pub host: Option<u64>,
    /// sidewatch's own (`/proc/self`, always the live procfs).
    pub own: Option<u64>,
}

impl Namespaces {
    pub(crate) fn read(reader: &NetReader) -> Self {
        let is_kthreadd = std::fs::read_to_string(reader.root().join("2/comm"))
            .is_ok_and(|c| c.trim_end() == "kthreadd");
        let own = NetReader::new("/proc").netns_of("self").ok();
        let host = if is_kthreadd {
            // Unreadable without ptrace rights: then sidewatch sits in the host's pid namespace
            // (it sees kthreadd), and its own namespace stands for the host's.
            reader.netns(2).ok().or(own)
        } else {
            None
        };
        Namespaces { host, own }
    }

    fn is_shared(&self, ns: u64) -> bool {
        Some(ns) == self.host
    }
}

#[derive(Debug, Default)]
struct Prev {
    interfaces: BTreeMap<String, [u64; 8]>,
    tcp: [Option<u64>; 7],
    last_seen: u64,
}

/// Per-target network state kept across ticks.
#[derive(Debug, Default)]
pub(crate) struct NetTracker {
    tick: u64,
    prev: HashMap<u64, Prev>,
    interfaces: BTreeMap<String, [u64; 8]>,
    tcp: [Option<u64>; 7],
    shared: bool,
    seen: bool,
}

fn increase(prev: Option<u64>, now: u64) -> u64 {
    match prev {
        Some(p) if now >= p => now - p,
        Some(_) => now,
        None => now,
    }
}

const OUT_SEGS: usize = 0;
const RETRANS_SEGS: usize = 1;

impl NetTracker {
    /// Reads the target's namespace for this tick; `None` before it was ever read. `read` holds
    /// this tick's readings by namespace inode, so targets in one namespace share one reading.
    /// In the host's namespace sockets are not counted by state: those counts would be the
    /// whole host's, and generating `net/tcp` for a busy host costs tens of milliseconds.
    pub(crate) fn update(
        &mut self,
        reader: &NetReader,
        ns: Namespaces,
        states: bool,
        target: &TargetSample,
        read: &mut HashMap<u64, (NetReading, Option<Vec<DiagListener>>)>,
        failures: &mut Vec<ReadFailure>,
    ) -> Option<NetworkSample> {
        self.tick += 1;
        let read = target.primary_pid.map(|pid| {
            let inode = reader.netns(pid)?;
            if let Some((r, diag)) = read.get(&inode) {
                return Ok((inode, r.clone(), diag.clone()));
            }
            let states = states && !ns.is_shared(inode);
            // In sidewatch's own namespace and without state counts, sock_diag lists the
            // listeners (the kernel skips the other sockets), so net/tcp is not read at all.
            // A target that holds no socket holds no listener: then nothing lists them, and
            // the reading is not shared with other targets of the namespace.
            let own_ns = !states && ns.own == Some(inode);
            let socketless = own_ns && !target.pids.iter().any(|p| reader.holds_socket(*p));
            let diag = (own_ns && !socketless)
                .then(diag_listeners)
                .and_then(Result::ok);
            let files = match (states, &diag) {
                (true, _) => TcpFiles::StatesAndListeners,
                (false, Some(_)) => TcpFiles::Skip,
                (false, None) if socketless => TcpFiles::Skip,
                (false, None) => TcpFiles::Listeners,
            };
            let mut r = reader.read_namespace(pid, files)?;
            if let Some(d) = &diag {
                r.sockets.listeners = d.iter().map(|l| l.listener).collect();
            }
            if !socketless {
                read.insert(inode, (r.clone(), diag.clone()));
            }
            Ok::<_, ReadError>((inode, r, diag))
        });
        let mut sample = match read {
            Some(Ok((inode, reading, diag))) => {
                self.account(reader, ns, inode, reading, diag, target)
            }
            Some(Err(error)) => {
                // A fixture or kernel without net/: nothing to report, nothing failed.
                if !error.is_not_found() || self.seen {
                    failures.push(ReadFailure {
                        source: Source::Network,
                        error,
                    });
                }
                NetworkSample::default()
            }
            None => NetworkSample::default(),
        };
        if !self.seen {
            return None;
        }
        sample.shared = self.shared;
        sample.interfaces = self
            .interfaces
            .iter()
            .map(|(name, v)| (name.clone(), InterfaceCounters::from_values(*v)))
            .collect();
        sample.tcp = self.tcp;
        Some(sample)
    }

    fn account(
        &mut self,
        reader: &NetReader,
        ns: Namespaces,
        inode: u64,
        r: NetReading,
        diag: Option<Vec<DiagListener>>,
        target: &TargetSample,
    ) -> NetworkSample {
        self.seen = true;
        self.shared = ns.is_shared(inode);
        let prev = self.prev.remove(&inode);
        let mut next = Prev {
            last_seen: self.tick,
            ..Default::default()
        };
        for (name, c) in &r.interfaces {
            let now = c.values();
            let before = prev.as_ref().and_then(|p| p.interfaces.get(name));
            let total = self.interfaces.entry(name.clone()).or_default();
            for i in 0..8 {
                total[i] = total[i].saturating_add(increase(before.map(|b| b[i]), now[i]));
            }
            next.interfaces.insert(name.clone(), now);
        }
        let mut deltas = [None; 7];
        for (i, now) in r.tcp.iter().enumerate() {
            let Some(now) = *now else { continue };
            let before = prev.as_ref().and_then(|p| p.tcp[i]);
            let d = increase(before, now);
            self.tcp[i] = Some(self.tcp[i].unwrap_or(0).saturating_add(d));
            deltas[i] = before.map(|_| d);
        }
        next.tcp = r.tcp;
        self.prev.insert(inode, next);
        if self.prev.len() > MAX_REMEMBERED {
            if let Some(oldest) = self
                .prev
                .iter()
                .min_by_key(|(_, p)| p.last_seen)
                .map(|(k, _)| *k)
            {
                self.prev.remove(&oldest);
            }
        }
        let tcp_retransmit_ratio = match (deltas[RETRANS_SEGS], deltas[OUT_SEGS]) {
            (Some(r), Some(s)) if s > 0 => Some(r as f64 / s as f64),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        let listeners = own_listeners(reader, ns.own == Some(inode), &r, diag, target);
        let accept_queue_ratio = listeners
            .iter()
            .filter_map(|(_, q, b)| b.filter(|b| *b > 0).map(|b| *q as f64 / b as f64))
            .reduce(f64::max);
        NetworkSample {
            live: true,
            connections: r.sockets.states,
            listeners,
            tcp_retransmit_ratio,
            accept_queue_ratio,
            ..Default::default()
        }
    }
}

/// The listeners the target's processes hold, by port: (port, queue, backlog). Backlogs come
/// from sock_diag (`diag` when this tick already dumped it) when sidewatch shares the namespace
/// (`same_ns`), else stay unknown.
fn own_listeners(
    reader: &NetReader,
    same_ns: bool,
    r: &NetReading,
    diag: Option<Vec<DiagListener>>,
    target: &TargetSample,
) -> Vec<(u16, u64, Option<u64>)> {
    let wanted: HashSet<u64> = r.sockets.listeners.iter().map(|l| l.inode).collect();
    let mut held = HashSet::new();
    for pid in &target.pids {
        if held.len() == wanted.len() {
            break;
        }
        reader.held_sockets(*pid, &wanted, &mut held);
    }
    let diag = match diag {
        Some(d) => Some(d),
        None if same_ns && !held.is_empty() => diag_listeners().ok(),
        None => None,
    };
    let backlogs: Option<HashMap<u64, u32>> = diag.map(|d| {
        d.into_iter()
            .map(|l| (l.listener.inode, l.backlog))
            .collect()
    });
    let mut by_port: BTreeMap<u16, (u64, Option<u64>)> = BTreeMap::new();
    for l in r
        .sockets
        .listeners
        .iter()
        .filter(|l| held.contains(&l.inode))
    {
        let backlog = backlogs
            .as_ref()
            .and_then(|b| b.get(&l.inode))
            .map(|b| u64::from(*b));
        let e = by_port.entry(l.port).or_insert((0, Some(0)));
        e.0 += u64::from(l.queue);
        e.1 = match (e.1, backlog) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    by_port.into_iter().map(|(p, (q, b))| (p, q, b)).collect()
}
