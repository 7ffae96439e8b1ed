//! The `sidewatch_app_metrics_*` families: whether this tick has the application's own metrics,
//! and what the fetch cost. Only for targets with `app:`.

use prometheus_client::encoding::DescriptorEncoder;

use crate::catalog;
use crate::encode::{Family, Num, target_labels};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut up = Family::of(&catalog::APP_METRICS_UP);
    let mut duration = Family::of(&catalog::APP_METRICS_FETCH_DURATION);
    let mut samples = Family::of(&catalog::APP_METRICS_SAMPLES);
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
