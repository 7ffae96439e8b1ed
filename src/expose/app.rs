//! The `sidewatch_app_metrics_*` families: whether this tick has the application's own metrics,
//! and what the fetch cost. Only for targets with `app:`.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::Gauge;
use prometheus_client::registry::Unit;

use crate::encode::{Family, Num, target_labels};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut up = Family::new(
        "sidewatch_app_metrics_up",
        "1 when this tick has a fresh, parsed body from the target's app.metrics_url (fetched during the last interval), else 0 (failed, late or unparsable: see sidewatch_read_errors_total{source=\"app_metrics\"}).",
        None,
        Gauge,
    );
    let mut duration = Family::new(
        "sidewatch_app_metrics_fetch_duration",
        "Time the fetch behind this tick's app metrics took, from the request to the parsed body.",
        Some(Unit::Seconds),
        Gauge,
    );
    let mut samples = Family::new(
        "sidewatch_app_metrics_samples",
        "Samples in the application's metrics body of this tick.",
        None,
        Gauge,
    );
    for t in &s.targets {
        let Some(ok) = t.app_up else { continue };
        let l = target_labels(t);
        up.push(l.clone(), Num::U(u64::from(ok)));
        if let Some(d) = t.app_fetch_duration_seconds {
            duration.push(l.clone(), Num::F(d));
        }
        if let Some(app) = &t.app {
            samples.push(l, Num::U(app.sample_count() as u64));
        }
    }
    for f in [&up, &duration, &samples] {
        f.encode(enc)?;
    }
    Ok(())
}
