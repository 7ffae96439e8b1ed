//! The `sidewatch_probe_*` families: outcomes of the HTTP probe by result and reason, its latency
//! histogram, and whether the last probe succeeded. Only for targets with `probe:`; every reason
//! is written from the start (zeros included) so that `rate()` sees the first failure.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{self, Counter, Gauge};
use prometheus_client::registry::Unit;

use crate::encode::{Family, Num, per_bucket, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let probed: Vec<_> = s
        .targets
        .iter()
        .filter_map(|t| t.probe.as_ref().map(|p| (target_labels(t), p)))
        .collect();
    if probed.is_empty() {
        return Ok(());
    }
    let mut requests = Family::new(
        "sidewatch_probe_requests",
        "HTTP probes of the target by result; a failure's reason is one of timeout, connect, tls, http, status, body, skipped (due while the previous probe was still in flight: not sent).",
        None,
        Counter,
    );
    let mut up = Family::new(
        "sidewatch_probe_up",
        "1 when the target's last finished HTTP probe succeeded, else 0.",
        None,
        Gauge,
    );
    for (l, p) in &probed {
        let t = &p.totals;
        requests.push(with(l, "result", "success"), Num::U(t.success));
        for (reason, n) in &t.failures {
            let failure = with(l, "result", "failure");
            requests.push(with(&failure, "reason", reason.as_str()), Num::U(*n));
        }
        if let Some((ok, _)) = t.last {
            up.push(l.clone(), Num::U(u64::from(ok)));
        }
    }
    requests.encode(enc)?;

    let mut m = enc.encode_descriptor(
        "sidewatch_probe_duration",
        "Time each HTTP probe sent took, from connecting to the end of the body or the failure (a timed-out probe counts its timeout), in OpenTelemetry's HTTP duration buckets.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (l, p) in &probed {
        let h = &p.totals.duration;
        m.encode_family(l)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                h.sum,
                h.count,
                &per_bucket(h),
                None,
            )?;
    }
    up.encode(enc)
}
