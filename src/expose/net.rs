//! The `sidewatch_network_*` and `sidewatch_tcp_*` families: the target's network namespace
//! (see [`crate::source::net`]), interface counters with cAdvisor's meanings. Counters also
//! while the target is down, as every counter; gauges only for a tick that read the namespace.

use std::borrow::Cow;

use prometheus_client::encoding::DescriptorEncoder;

use crate::catalog::{self, Def};
use crate::encode::{Family, Num, target_labels, with};
use crate::snapshot::Snapshot;
use crate::source::net::TCP_STATES;

/// The interface counters in [`InterfaceCounters`] order.
///
/// [`InterfaceCounters`]: crate::source::net::InterfaceCounters
const INTERFACE: [&Def; 8] = [
    &catalog::NETWORK_RECEIVE,
    &catalog::NETWORK_RECEIVE_PACKETS,
    &catalog::NETWORK_RECEIVE_ERRORS,
    &catalog::NETWORK_RECEIVE_DROPPED,
    &catalog::NETWORK_TRANSMIT,
    &catalog::NETWORK_TRANSMIT_PACKETS,
    &catalog::NETWORK_TRANSMIT_ERRORS,
    &catalog::NETWORK_TRANSMIT_DROPPED,
];

/// In [`crate::source::net::TCP_COUNTERS`] order.
const TCP: [&Def; 7] = [
    &catalog::TCP_SEGMENTS_SENT,
    &catalog::TCP_SEGMENTS_RETRANSMITTED,
    &catalog::TCP_ACTIVE_OPENS,
    &catalog::TCP_PASSIVE_OPENS,
    &catalog::TCP_RESETS_SENT,
    &catalog::TCP_LISTEN_OVERFLOWS,
    &catalog::TCP_LISTEN_DROPS,
];

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut shared = Family::of(&catalog::NETWORK_SHARED);
    let mut ifaces: Vec<Family<'_>> = INTERFACE.iter().map(|d| Family::of(d)).collect();
    let mut tcp: Vec<Family<'_>> = TCP.iter().map(|d| Family::of(d)).collect();
    let mut conns = Family::of(&catalog::TCP_CONNECTIONS);
    let mut queue = Family::of(&catalog::TCP_LISTEN_QUEUE);
    let mut backlog = Family::of(&catalog::TCP_LISTEN_BACKLOG);
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
