//! The target's network namespace as its procfs shows it, read through the target's pid
//! (`<procfs>/<pid>/net/…`), so the sidecar, wrapper and host shapes read the same files:
//! interface counters (`net/dev`), TCP counters (`net/snmp`, `net/netstat`), TCP sockets by
//! state and the accept queues of listening sockets (`net/tcp`, `net/tcp6`), and which of those
//! listeners belong to the target (socket inodes in `fd/`). Pure parsers plus a thin file layer.
//!
//! `net/dev` is parsed by the `procfs` crate. `net/snmp` and `net/netstat` are not: the crate
//! has no `netstat` parser, and its `Snmp` fails the whole file when any of ~90 fields is
//! missing (they vary by kernel version); one parser of the shared "header line, value line"
//! format serves both and keeps only the figures used. `net/tcp` is scanned by hand too: the
//! crate decodes both addresses of every socket into a `Vec`, while a tick needs only the
//! state, local port, receive queue and inode (see bench/net-tcp for the cost).
//!
//! The backlog of a listening socket is not in `net/tcp` (its `tx_queue` column is 0 for
//! listeners); the kernel reports it through sock_diag netlink ([`diag_listeners`]), which
//! answers for the namespace of the asking socket: sidewatch reads it when it shares the
//! target's namespace (sidecar, wrapper) and leaves it absent otherwise. The same dump lists
//! the listeners with their queues, filtered to LISTEN by the kernel: without state counts,
//! sidewatch takes the listeners from it and does not read `net/tcp` at all (reading even its
//! first lines makes the kernel walk the whole established hash, a millisecond or more a file on
//! a host with thousands of sockets).

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use procfs::FromBufRead as _;

use super::proc::{End, ReadError, io_error, read_text_with};

/// One interface's counters (`net/dev`), cAdvisor's meanings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceCounters {
    pub receive_bytes: u64,
    pub receive_packets: u64,
    pub receive_errors: u64,
    pub receive_dropped: u64,
    pub transmit_bytes: u64,
    pub transmit_packets: u64,
    pub transmit_errors: u64,
    pub transmit_dropped: u64,
}

impl InterfaceCounters {
    pub const NAMES: [&'static str; 8] = [
        "receive_bytes",
        "receive_packets",
        "receive_errors",
        "receive_dropped",
        "transmit_bytes",
        "transmit_packets",
        "transmit_errors",
        "transmit_dropped",
    ];

    pub fn from_values(v: [u64; 8]) -> Self {
        InterfaceCounters {
            receive_bytes: v[0],
            receive_packets: v[1],
            receive_errors: v[2],
            receive_dropped: v[3],
            transmit_bytes: v[4],
            transmit_packets: v[5],
            transmit_errors: v[6],
            transmit_dropped: v[7],
        }
    }

    pub fn values(&self) -> [u64; 8] {
        [
            self.receive_bytes,
            self.receive_packets,
            self.receive_errors,
            self.receive_dropped,
            self.transmit_bytes,
            self.transmit_packets,
            self.transmit_errors,
            self.transmit_dropped,
        ]
    }
}

/// The TCP counters kept: (file section, field, name of `sidewatch_tcp_<name>_total`).
pub const TCP_COUNTERS: [(&str, &str, &str); 7] = [
    ("Tcp", "OutSegs", "segments_sent"),
    ("Tcp", "RetransSegs", "segments_retransmitted"),
    ("Tcp", "ActiveOpens", "active_opens"),
    ("Tcp", "PassiveOpens", "passive_opens"),
    ("Tcp", "OutRsts", "resets_sent"),
    ("TcpExt", "ListenOverflows", "listen_overflows"),
    ("TcpExt", "ListenDrops", "listen_drops"),
];

/// TCP states in the kernel's numbering (`include/net/tcp_states.h`), 1-based.
pub const TCP_STATES: [&str; 12] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
];
const LISTEN: usize = 0x0A;

/// A listening socket: local port, sockets waiting in its accept queue, inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub queue: u32,
    pub inode: u64,
}

/// A listening socket as sock_diag reports it: the listener and its backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagListener {
    pub listener: Listener,
    pub backlog: u32,
}

/// What to take from `net/tcp` and `net/tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFiles {
    /// Sockets by state, and the listeners.
    StatesAndListeners,
    /// The listeners only.
    Listeners,
    /// Nothing: the files are not read (the listeners came from sock_diag).
    Skip,
}

/// What `net/tcp` and `net/tcp6` hold: sockets per state (index = state − 1; `None` when not
/// counted) and every listener.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TcpScan {
    pub states: Option<[u64; 12]>,
    pub listeners: Vec<Listener>,
}

/// A parse failure: which line, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

fn bad(line: usize, reason: impl Into<String>) -> ParseError {
    ParseError {
        line,
        reason: reason.into(),
    }
}

/// `net/dev`: interfaces by name.
pub fn parse_dev(text: &str) -> Result<BTreeMap<String, InterfaceCounters>, ParseError> {
    let parsed = procfs::net::InterfaceDeviceStatus::from_buf_read(text.as_bytes())
        .map_err(|e| bad(0, e.to_string()))?;
    Ok(parsed
        .0
        .into_iter()
        .map(|(name, d)| {
            let c = InterfaceCounters {
                receive_bytes: d.recv_bytes,
                receive_packets: d.recv_packets,
                receive_errors: d.recv_errs,
                receive_dropped: d.recv_drop,
                transmit_bytes: d.sent_bytes,
                transmit_packets: d.sent_packets,
                transmit_errors: d.sent_errs,
                transmit_dropped: d.sent_drop,
            };
            (name, c)
        })
        .collect())
}

/// Sets the [`TCP_COUNTERS`] slots (same order) that one `net/snmp` or `net/netstat` text holds,
/// without building the table of every field (the tests hold it against that table), with the
/// same checks on the sections the counters come from (`Tcp`, `TcpExt`; the others are not looked at).
pub fn tcp_counters_into(text: &str, out: &mut [Option<u64>; 7]) -> Result<(), ParseError> {
    let used = |section: &str| TCP_COUNTERS.iter().any(|(s, _, _)| *s == section);
    each_table_value(text, used, |section, name, v| {
        let Some(i) = TCP_COUNTERS
            .iter()
            .position(|(s, f, _)| *s == section && *f == name)
        else {
            return;
        };
        if let Ok(v) = v.parse::<u64>() {
            out[i] = Some(v);
        }
    })
}

/// Calls `f(section, name, value)` for every field of the sections `wanted` accepts in a
/// `net/snmp` or `net/netstat` text; a header without its value line, or (in a wanted section)
/// with another number of values, is an error naming the line.
fn each_table_value<'t>(
    text: &'t str,
    wanted: impl Fn(&str) -> bool,
    mut f: impl FnMut(&'t str, &'t str, &'t str),
) -> Result<(), ParseError> {
    let mut lines = text.lines().enumerate();
    while let Some((i, header)) = lines.next() {
        if header.trim().is_empty() {
            continue;
        }
        let (section, names) = header
            .split_once(':')
            .ok_or_else(|| bad(i + 1, "no `Section:` prefix"))?;
        let (_, values) = lines
            .next()
            .and_then(|(_, l)| l.split_once(':'))
            .filter(|(s, _)| *s == section)
            .ok_or_else(|| bad(i + 2, format!("no value line for section {section}")))?;
        if !wanted(section) {
            continue;
        }
        // One pass over both lines; a mismatch is found at the end of the shorter one.
        let (mut names, mut values) = (names.split_whitespace(), values.split_whitespace());
        let mut paired = 0;
        loop {
            match (names.next(), values.next()) {
                (Some(name), Some(value)) => {
                    f(section, name, value);
                    paired += 1;
                }
                (None, None) => break,
                (name, value) => {
                    let n = paired + usize::from(name.is_some()) + names.count();
                    let v = paired + usize::from(value.is_some()) + values.count();
                    return Err(bad(i + 2, format!("{section}: {n} names, {v} values")));
                }
            }
        }
    }
    Ok(())
}

/// Adds one `net/tcp` or `net/tcp6` text to `scan`: state counts when `scan.states` is set,
/// listeners always.
pub fn scan_tcp(text: &str, scan: &mut TcpScan) -> Result<(), ParseError> {
    scan_tcp_lines(text.as_bytes(), scan)
}

/// [`scan_tcp`] over a stream. Without state counts it stops at the first socket that is not
/// listening: the kernel lists its listening hash before the established one, so the rest of a
/// namespace's sockets (thousands on a busy host) are never generated nor read.
pub fn scan_tcp_lines(text: impl BufRead, scan: &mut TcpScan) -> Result<(), ParseError> {
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.map_err(|e| bad(i + 1, e.to_string()))?;
        let mut f = line.split_ascii_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(st), Some(queues)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let state = usize::from_str_radix(st, 16).map_err(|_| bad(i + 1, "bad state"))?;
        match scan.states.as_mut() {
            Some(states) => {
                if let Some(n) = state.checked_sub(1).and_then(|s| states.get_mut(s)) {
                    *n += 1;
                }
            }
            None if state != LISTEN => return Ok(()),
            None => {}
        }
        if state != LISTEN {
            continue;
        }
        let port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            .ok_or_else(|| bad(i + 1, "bad local address"))?;
        let queue = queues
            .split_once(':')
            .and_then(|(_, rx)| u32::from_str_radix(rx, 16).ok())
            .ok_or_else(|| bad(i + 1, "bad rx_queue"))?;
        // tr:tm->when, retrnsmt, uid, timeout, then the inode.
        let inode = f
            .nth(4)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(i + 1, "bad inode"))?;
        scan.listeners.push(Listener { port, queue, inode });
    }
    Ok(())
}

/// `net:[4026531840]` (the text of `ns/net`) → 4026531840.
pub fn parse_ns_link(text: &str) -> Option<u64> {
    text.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// The files of one procfs root.
#[derive(Debug, Clone)]
pub struct NetReader {
    root: PathBuf,
}

/// One read of a namespace through a pid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetReading {
    pub interfaces: BTreeMap<String, InterfaceCounters>,
    pub tcp: [Option<u64>; 7],
    pub sockets: TcpScan,
}

impl NetReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NetReader { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn parsed<T>(
        &self,
        pid: i32,
        file: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, ReadError> {
        let path = self.root.join(format!("{pid}/net/{file}"));
        read_text_with(&path, End::Eof, parse)
            .map_err(|e| io_error(&path, e))?
            .map_err(|e| ReadError::Other {
                path,
                reason: e.to_string(),
            })
    }

    /// Streams `<pid>/net/<file>` (`tcp`, `tcp6`) into `scan`.
    fn scan(&self, pid: i32, file: &str, scan: &mut TcpScan) -> Result<(), ReadError> {
        let path = self.root.join(format!("{pid}/net/{file}"));
        let f = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        scan_tcp_lines(std::io::BufReader::new(f), scan).map_err(|e| ReadError::Other {
            path,
            reason: e.to_string(),
        })
    }

    /// The inode of `pid`'s network namespace.
    pub fn netns(&self, pid: i32) -> Result<u64, ReadError> {
        self.netns_of(&pid.to_string())
    }

    /// The inode of the network namespace of `<root>/<dir>` (a pid or `self`).
    pub fn netns_of(&self, dir: &str) -> Result<u64, ReadError> {
        let path = self.root.join(dir).join("ns/net");
        let link = std::fs::read_link(&path).map_err(|e| io_error(&path, e))?;
        parse_ns_link(&link.to_string_lossy()).ok_or_else(|| ReadError::Other {
            path,
            reason: format!("not a network namespace link: {}", link.display()),
        })
    }

    /// The namespace counters and sockets as `pid` sees them; `tcp`: what to take from the
    /// socket tables.
    pub fn read_namespace(&self, pid: i32, tcp: TcpFiles) -> Result<NetReading, ReadError> {
        let interfaces = self.parsed(pid, "dev", parse_dev)?;
        let mut counters = [None; 7];
        self.parsed(pid, "snmp", |t| tcp_counters_into(t, &mut counters))?;
        self.parsed(pid, "netstat", |t| tcp_counters_into(t, &mut counters))?;
        let mut sockets = TcpScan {
            states: (tcp == TcpFiles::StatesAndListeners).then_some([0; 12]),
            listeners: Vec::new(),
        };
        if tcp != TcpFiles::Skip {
            self.scan(pid, "tcp", &mut sockets)?;
            // A kernel without IPv6 has no tcp6.
            match self.scan(pid, "tcp6", &mut sockets) {
                Err(e) if e.is_not_found() => {}
                other => other?,
            }
        }
        Ok(NetReading {
            interfaces,
            tcp: counters,
            sockets,
        })
    }

    /// Whether `pid` holds any socket open (stops at the first); false when `fd/` cannot be
    /// read.
    pub fn holds_socket(&self, pid: i32) -> bool {
        let Ok(dir) = std::fs::read_dir(self.root.join(format!("{pid}/fd"))) else {
            return false;
        };
        dir.flatten().any(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|l| l.as_os_str().as_encoded_bytes().starts_with(b"socket:["))
        })
    }

    /// Which of `wanted` socket inodes `pid` holds open (stops once all are found).
    pub fn held_sockets(&self, pid: i32, wanted: &HashSet<u64>, found: &mut HashSet<u64>) {
        let Ok(dir) = std::fs::read_dir(self.root.join(format!("{pid}/fd"))) else {
            return;
        };
        for entry in dir.flatten() {
            if found.len() == wanted.len() {
                return;
            }
            let Ok(link) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let inode = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<u64>().ok());
            if let Some(i) = inode.filter(|i| wanted.contains(i)) {
                found.insert(i);
            }
        }
    }
}

/// The listening TCP sockets (IPv4 and IPv6) of sidewatch's own network namespace with their
/// queues and backlogs (what `ss -lnt` shows as Recv-Q and Send-Q), from a sock_diag dump that
/// the kernel filters to LISTEN (the other sockets cost nothing). One dump covers both families
/// (inet_diag's original request, which the kernel answers for every family in one walk of the
/// listening hash); a kernel that refuses it is asked once per family.
pub fn diag_listeners() -> std::io::Result<Vec<DiagListener>> {
    let mut out = Vec::new();
    if diag::dump_listeners(diag::Families::Both, &mut out).is_ok() {
        return Ok(out);
    }
    out.clear();
    for family in [2u8 /* AF_INET */, 10 /* AF_INET6 */] {
        diag::dump_listeners(diag::Families::One(family), &mut out)?;
    }
    Ok(out)
}

mod diag {
    //! One `SOCK_DIAG_BY_FAMILY` dump request for listening TCP sockets, and the replies'
    //! `inet_diag_msg` (linux/inet_diag.h): for a listener, `idiag_wqueue` is its backlog.
    use std::cell::RefCell;
    use std::io;
    use std::os::fd::{AsRawFd as _, OwnedFd};

    use super::{DiagListener, Listener};

    use nix::sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
        socket,
    };

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const IPPROTO_TCP: u8 = 6;
    const TCP_LISTEN_BIT: u32 = 1 << 10;
    /// Replies larger than this would be cut; the kernel sends at most a page-sized batch.
    const BUF: usize = 64 * 1024;

    /// Which address families one dump asks for.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Families {
        /// `TCPDIAG_GETSOCK` with `struct inet_diag_req`: the kernel dumps it as AF_UNSPEC.
        Both,
        /// `SOCK_DIAG_BY_FAMILY` with `struct inet_diag_req_v2` for one family.
        One(u8),
    }

    const TCPDIAG_GETSOCK: u16 = 18;

    fn request(families: Families) -> Vec<u8> {
        // Header (16 bytes), then the request: inet_diag_req_v2 is family, protocol, ext, pad,
        // states, sockid (48 bytes); inet_diag_req is family, src_len, dst_len, ext, sockid,
        // states, dbs.
        let (kind, body): (u16, Vec<u8>) = match families {
            Families::One(family) => {
                let mut b = vec![family, IPPROTO_TCP, 0, 0];
                b.extend_from_slice(&TCP_LISTEN_BIT.to_ne_bytes());
                b.resize(56, 0); // inet_diag_sockid: any
                (SOCK_DIAG_BY_FAMILY, b)
            }
            Families::Both => {
                let mut b = vec![0u8; 52]; // family (ignored), lengths, ext, sockid: any
                b.extend_from_slice(&TCP_LISTEN_BIT.to_ne_bytes());
                b.extend_from_slice(&0u32.to_ne_bytes()); // dbs
                (TCPDIAG_GETSOCK, b)
            }
        };
        let len = 16 + body.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes()); // nlmsg_len
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // seq
        m.extend_from_slice(&0u32.to_ne_bytes()); // pid
        m.extend_from_slice(&body);
        m
    }

    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }

    /// One `inet_diag_msg` (after the 16-byte header): the local port (big-endian at 4), then
    /// idiag_rqueue (a listener's accept queue), idiag_wqueue (its backlog) and idiag_inode at
    /// 56, 60 and 68.
    fn listener(msg: &[u8]) -> Option<DiagListener> {
        Some(DiagListener {
            listener: Listener {
                port: u16::from_be_bytes(msg.get(4..6)?.try_into().ok()?),
                queue: u32_at(msg, 56)?,
                inode: u64::from(u32_at(msg, 68)?),
            },
            backlog: u32_at(msg, 60)?,
        })
    }

    thread_local! {
        /// The sock_diag socket and its reply buffer, kept across ticks (two dumps a tick); a
        /// dump that failed drops them, so a half-read reply never meets the next request.
        static SOCKET: RefCell<Option<(OwnedFd, Vec<u8>)>> = const { RefCell::new(None) };
    }

    fn open() -> io::Result<OwnedFd> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(fd)
    }

    pub(super) fn dump_listeners(
        families: Families,
        out: &mut Vec<DiagListener>,
    ) -> io::Result<()> {
        SOCKET.with(|cell| {
            let mut slot = cell
                .try_borrow_mut()
                .map_err(|_| io::Error::other("sock_diag socket in use"))?;
            let (fd, mut buf) = match slot.take() {
                Some(kept) => kept,
                None => (open()?, vec![0u8; BUF]),
            };
            dump(&fd, &mut buf, families, out)?;
            *slot = Some((fd, buf));
            Ok(())
        })
    }

    fn dump(
        fd: &OwnedFd,
        buf: &mut [u8],
        families: Families,
        out: &mut Vec<DiagListener>,
    ) -> io::Result<()> {
        send(fd.as_raw_fd(), &request(families), MsgFlags::empty())?;
        loop {
            let n = recv(fd.as_raw_fd(), buf, MsgFlags::empty())?;
            let mut at = 0;
            while at + 16 <= n {
                let len = u32_at(buf, at).unwrap_or(0) as usize;
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => return Err(io::Error::other("sock_diag answered an error")),
                    _ => {}
                }
                let msg = buf.get(at + 16..at + len).unwrap_or(&[]);
                out.extend(listener(msg));
                if len < 16 {
                    return Err(io::Error::other("sock_diag: malformed reply"));
                }
                at += (len + 3) & !3;
            }
            if n == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The whole of `net/snmp` or `net/netstat`: every `Section: names…` line followed by
    /// `Section: values…`, as `"Section:Field" → value`. Negative values (`Tcp: MaxConn -1`)
    /// are left out.
    fn parse_tables(text: &str) -> Result<HashMap<String, u64>, ParseError> {
        let mut out = HashMap::new();
        each_table_value(
            text,
            |_| true,
            |section, name, v| {
                if let Ok(v) = v.parse::<u64>() {
                    out.insert(format!("{section}:{name}"), v);
                }
            },
        )?;
        Ok(out)
    }

    #[test]
    fn tables_pair_names_with_values_and_skip_negatives() {
        let t = parse_tables(
            "Tcp: RtoMin MaxConn OutSegs\nTcp: 200 -1 42\nTcpExt: ListenOverflows\nTcpExt: 7\n",
        )
        .unwrap();
        assert_eq!(t.get("Tcp:OutSegs"), Some(&42));
        assert_eq!(t.get("Tcp:MaxConn"), None);
        assert_eq!(t.get("TcpExt:ListenOverflows"), Some(&7));
    }

    /// On this machine's own files: the counters picked while reading are those of the whole
    /// table, and a text the table refuses is refused the same way.
    #[test]
    fn tcp_counters_are_those_of_the_tables() {
        let mut from_tables = HashMap::new();
        let mut picked = [None; 7];
        for file in ["/proc/net/snmp", "/proc/net/netstat"] {
            let text = std::fs::read_to_string(file).unwrap();
            from_tables.extend(parse_tables(&text).unwrap());
            tcp_counters_into(&text, &mut picked).unwrap();
        }
        let want = TCP_COUNTERS.map(|(s, f, _)| from_tables.get(&format!("{s}:{f}")).copied());
        assert!(want.iter().all(Option::is_some), "{want:?}");
        assert_eq!(picked, want);
        let e = tcp_counters_into("Tcp: A B\nTcp: 1\n", &mut picked).unwrap_err();
        assert_eq!(e.line, 2);
    }

    /// The one dump of both families lists what the two per-family dumps list, here for two
    /// listeners of this test, IPv4 and IPv6 (other listeners on the machine come and go).
    #[test]
    fn one_diag_dump_lists_both_families() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let ports = [
            v4.local_addr().unwrap().port(),
            v6.local_addr().unwrap().port(),
        ];
        let ours = |v: &[DiagListener]| {
            let mut k: Vec<_> = v
                .iter()
                .filter(|l| ports.contains(&l.listener.port))
                .map(|l| (l.listener.port, l.listener.inode, l.backlog))
                .collect();
            k.sort_unstable();
            k
        };
        let mut both = Vec::new();
        diag::dump_listeners(diag::Families::Both, &mut both).unwrap();
        let mut each = Vec::new();
        for family in [2, 10] {
            diag::dump_listeners(diag::Families::One(family), &mut each).unwrap();
        }
        let (both, each) = (ours(&both), ours(&each));
        assert_eq!(both.len(), 2, "{both:?}");
        assert_eq!(both, each);
    }

    #[test]
    fn tables_name_the_line_of_a_mismatch() {
        let e = parse_tables("Tcp: A B\nTcp: 1\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_tables("Tcp: A B\nUdp: 1 2\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn tcp_scan_keeps_listeners_and_counts_states() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1842900 4 0 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:B5CA 01 00000000:000003E8 00:00000000 00000000     0        0 0 1 0 20 4 32 10 -1\n";
        let mut s = TcpScan {
            states: Some([0; 12]),
            listeners: vec![],
        };
        scan_tcp(text, &mut s).unwrap();
        assert_eq!(
            s.listeners,
            vec![Listener {
                port: 8080,
                queue: 3,
                inode: 1842900
            }]
        );
        let st = s.states.unwrap();
        assert_eq!((st[0], st[9]), (1, 1));
        assert!(scan_tcp("h\n 0: 0:1 0:0 ZZ 0:0\n", &mut s).is_err());
    }

    /// Without state counts the scan ends at the first socket that is not listening: the
    /// malformed line after it is never read (with state counts it is, and fails).
    #[test]
    fn tcp_scan_without_states_stops_after_the_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 77 4 0 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:B5CA 01 00000000:000003E8 00:00000000 00000000     0        0 0 1 0 20 4 32 10 -1\n   2: 0:1 0:0 ZZ 0:0\n";
        let mut listeners_only = TcpScan::default();
        scan_tcp(text, &mut listeners_only).unwrap();
        assert_eq!(
            listeners_only.listeners,
            vec![Listener {
                port: 8080,
                queue: 2,
                inode: 77
            }]
        );
        assert_eq!(listeners_only.states, None);
        let mut counted = TcpScan {
            states: Some([0; 12]),
            listeners: vec![],
        };
        assert!(scan_tcp(text, &mut counted).is_err());
    }

    #[test]
    fn ns_link() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
    }
}
