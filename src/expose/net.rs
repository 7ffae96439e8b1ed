//! The `sidewatch_network_*` and `sidewatch_tcp_*` families: the target's network namespace
//! (see [`crate::source::net`]), interface counters with cAdvisor's meanings. Counters also
//! while the target is down, as every counter; gauges only for a tick that read the namespace.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{Counter, Gauge};
use prometheus_client::registry::Unit;

use crate::encode::{Family, Num, target_labels, with};
use crate::snapshot::Snapshot;
use crate::source::net::TCP_STATES;

/// (name without unit and `_total`, unit, help) in [`InterfaceCounters`] order.
///
/// [`InterfaceCounters`]: crate::source::net::InterfaceCounters
const INTERFACE: [(&str, Option<Unit>, &str); 8] = [
    (
        "sidewatch_network_receive",
        Some(Unit::Bytes),
        "Bytes received by the interface in the target's network namespace (net/dev; cAdvisor's container_network_receive_bytes_total).",
    ),
    (
        "sidewatch_network_receive_packets",
        None,
        "Packets received by the interface in the target's network namespace (net/dev).",
    ),
    (
        "sidewatch_network_receive_errors",
        None,
        "Receive errors of the interface in the target's network namespace (net/dev errs).",
    ),
    (
        "sidewatch_network_receive_dropped",
        None,
        "Received packets dropped by the interface in the target's network namespace (net/dev drop).",
    ),
    (
        "sidewatch_network_transmit",
        Some(Unit::Bytes),
        "Bytes transmitted by the interface in the target's network namespace (net/dev; cAdvisor's container_network_transmit_bytes_total).",
    ),
    (
        "sidewatch_network_transmit_packets",
        None,
        "Packets transmitted by the interface in the target's network namespace (net/dev).",
    ),
    (
        "sidewatch_network_transmit_errors",
        None,
        "Transmit errors of the interface in the target's network namespace (net/dev errs).",
    ),
    (
        "sidewatch_network_transmit_dropped",
        None,
        "Transmitted packets dropped by the interface in the target's network namespace (net/dev drop).",
    ),
];

/// Help texts in [`crate::source::net::TCP_COUNTERS`] order.
const TCP: [(&str, &str); 7] = [
    (
        "sidewatch_tcp_segments_sent",
        "TCP segments sent in the target's network namespace (net/snmp Tcp OutSegs).",
    ),
    (
        "sidewatch_tcp_segments_retransmitted",
        "TCP segments retransmitted in the target's network namespace (net/snmp Tcp RetransSegs).",
    ),
    (
        "sidewatch_tcp_active_opens",
        "TCP connections the namespace opened (net/snmp Tcp ActiveOpens).",
    ),
    (
        "sidewatch_tcp_passive_opens",
        "TCP connections the namespace accepted (net/snmp Tcp PassiveOpens).",
    ),
    (
        "sidewatch_tcp_resets_sent",
        "TCP resets sent in the namespace (net/snmp Tcp OutRsts).",
    ),
    (
        "sidewatch_tcp_listen_overflows",
        "Connections dropped because a listening socket's accept queue was full (net/netstat TcpExt ListenOverflows).",
    ),
    (
        "sidewatch_tcp_listen_drops",
        "Connections dropped at a listening socket for any reason, overflows included (net/netstat TcpExt ListenDrops).",
    ),
];

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut shared = Family::new(
        "sidewatch_network_shared",
        "1 when the target's network namespace is the host's (or sidewatch's own in host mode): the sidewatch_network_* and sidewatch_tcp_*_total figures then describe the whole host and stay out of the target's signals; the listen queues are still the target's own sockets. 0 for a namespace of its own (a Pod's, a container's).",
        None,
        Gauge,
    );
    let mut ifaces: Vec<Family<'_>> = INTERFACE
        .iter()
        .map(|(n, u, h)| Family::new(n, h, u.clone(), Counter))
        .collect();
    let mut tcp: Vec<Family<'_>> = TCP
        .iter()
        .map(|(n, h)| Family::new(n, h, None, Counter))
        .collect();
    let mut conns = Family::new(
        "sidewatch_tcp_connections",
        "TCP sockets of the target's network namespace by state (net/tcp and net/tcp6; listeners included as state=\"listen\").",
        None,
        Gauge,
    );
    let mut queue = Family::new(
        "sidewatch_tcp_listen_queue",
        "Connections waiting in the accept queue of the target's listening sockets on the port (IPv4 and IPv6 summed; net/tcp rx_queue).",
        None,
        Gauge,
    );
    let mut backlog = Family::new(
        "sidewatch_tcp_listen_backlog",
        "Accept queue size of the target's listening sockets on the port (the listen() backlog capped by somaxconn, from sock_diag; only when sidewatch shares the target's network namespace).",
        None,
        Gauge,
    );
    for t in &s.targets {
        let Some(n) = &t.network else { continue };
        let l = target_labels(t);
        shared.push(l.clone(), Num::U(u64::from(n.shared)));
        for (name, c) in &n.interfaces {
            let li = with(&l, "interface", Cow::Borrowed(name.as_str()));
            for (fam, v) in ifaces.iter_mut().zip(c.values()) {
                fam.push(li.clone(), Num::U(v));
            }
        }
        for (fam, v) in tcp.iter_mut().zip(n.tcp) {
            if let Some(v) = v {
                fam.push(l.clone(), Num::U(v));
            }
        }
        if let Some(states) = &n.connections {
            for (state, v) in TCP_STATES.iter().zip(states) {
                conns.push(with(&l, "state", *state), Num::U(*v));
            }
        }
        for (port, q, b) in &n.listeners {
            let lp = with(&l, "port", port.to_string());
            queue.push(lp.clone(), Num::U(*q));
            if let Some(b) = b {
                backlog.push(lp, Num::U(*b));
            }
        }
    }
    shared.encode(enc)?;
    for fam in ifaces.iter().chain(&tcp) {
        fam.encode(enc)?;
    }
    for fam in [&conns, &queue, &backlog] {
        fam.encode(enc)?;
    }
    Ok(())
}
