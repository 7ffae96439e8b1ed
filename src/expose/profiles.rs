//! The `sidewatch_profile*` families: captures stored by kind and trigger, and failed captures.
//! Only for targets with `profiles:`; every configured (kind, trigger) is written from the start
//! (zeros included) so that `increase()` sees the first capture.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::Counter;

use crate::encode::{Family, Num, target_labels, with};
use crate::snapshot::Snapshot;

pub(crate) fn encode(s: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let mut captured = Family::new(
        "sidewatch_profiles_captured",
        "pprof profiles of the target captured and stored, by kind (heap, goroutine, cpu) and trigger (alert, leak, goroutines, heap, cpu).",
        None,
        Counter,
    );
    let mut errors = Family::new(
        "sidewatch_profile_capture_errors",
        "pprof captures of the target that failed: no answer within the timeout, an error status, a body over the size cap or not a gzipped profile, or the file could not be written.",
        None,
        Counter,
    );
    let mut any = false;
    for t in &s.targets {
        let Some(p) = &t.profiles else { continue };
        any = true;
        let l = target_labels(t);
        for (kind, trigger, n) in &p.captured {
            let k = with(&l, "kind", kind.as_str());
            captured.push(with(&k, "trigger", trigger.as_str()), Num::U(*n));
        }
        errors.push(l, Num::U(p.errors));
    }
    if !any {
        return Ok(());
    }
    captured.encode(enc)?;
    errors.encode(enc)
}
