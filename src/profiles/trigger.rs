//! When to capture: holmes-style spike rules over one signal (a minimum, an absolute level, a
//! rise over the mean of the last N ticks, a cooldown) and the cooldown of the other triggers.
//! Pure: values in, verdicts out; the caller decides what a verdict captures.

use std::collections::VecDeque;
use std::time::Duration;

/// A spike rule as configured: fires when `value >= min` and either `value > abs` or
/// `value >= mean(last ticks) × (1 + rise)`, at most once per `cooldown`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    pub min: f64,
    /// `None`: no absolute level (only the rise).
    pub abs: Option<f64>,
    /// `None`: no rise rule (only the absolute level).
    pub rise_ratio: Option<f64>,
    /// Ticks in the moving mean; the rise rule waits until it has them all.
    pub ticks: usize,
    pub cooldown: Duration,
}

/// A spike rule's state: the last `ticks` values.
#[derive(Debug, Default, Clone)]
pub struct SpikeState {
    recent: VecDeque<f64>,
}

impl SpikeState {
    /// Judges `value` against the values before it, then remembers it. `Some(evidence)` when
    /// the rule holds (the caller applies the cooldown).
    pub fn observe(&mut self, rule: &Spike, value: f64) -> Option<String> {
        let verdict = judge(rule, &self.recent, value);
        self.recent.push_back(value);
        while self.recent.len() > rule.ticks.max(1) {
            self.recent.pop_front();
        }
        verdict
    }
}

fn judge(rule: &Spike, recent: &VecDeque<f64>, value: f64) -> Option<String> {
    if value < rule.min {
        return None;
    }
    if let Some(abs) = rule.abs.filter(|abs| value > *abs) {
        return Some(format!("{value} above the absolute level {abs}"));
    }
    let rise = rule.rise_ratio?;
    if recent.len() < rule.ticks.max(1) {
        return None;
    }
    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
    (value >= mean * (1.0 + rise)).then(|| {
        format!(
            "{value} is {:.0} % above the mean {mean:.1} of the last {} ticks (rise needed {:.0} %, minimum {})",
            if mean > 0.0 { (value / mean - 1.0) * 100.0 } else { f64::INFINITY },
            recent.len(),
            rise * 100.0,
            rule.min
        )
    })
}

/// Unix seconds of a trigger's last capture; a trigger fires again only after its cooldown.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cooldown {
    last: Option<f64>,
}

impl Cooldown {
    pub fn ready(&self, now: f64, cooldown: Duration) -> bool {
        self.last.is_none_or(|t| now - t >= cooldown.as_secs_f64())
    }

    pub fn start(&mut self, now: f64) {
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(abs: Option<f64>, rise: Option<f64>) -> Spike {
        Spike {
            min: 10.0,
            abs,
            rise_ratio: rise,
            ticks: 3,
            cooldown: Duration::from_secs(60),
        }
    }

    #[test]
    fn below_the_minimum_never_fires() {
        let r = rule(Some(1.0), Some(0.0));
        let mut s = SpikeState::default();
        assert_eq!(s.observe(&r, 9.0), None);
    }

    #[test]
    fn absolute_level_fires_at_once_and_the_rise_waits_for_its_window() {
        let r = rule(Some(100.0), Some(0.5));
        let mut s = SpikeState::default();
        assert!(s.observe(&r, 101.0).unwrap().contains("absolute level 100"));
        let mut s = SpikeState::default();
        // 20 after two values of 10: a 100 % rise, but the window (3 ticks) is not full yet.
        assert_eq!(s.observe(&r, 10.0), None);
        assert_eq!(s.observe(&r, 10.0), None);
        assert_eq!(s.observe(&r, 20.0), None);
        // Mean of 10, 10, 20 = 13.33; 1.5 × that = 20: 19 does not fire, 20 does.
        assert_eq!(s.clone().observe(&r, 19.0), None);
        let e = s.observe(&r, 20.0).unwrap();
        assert!(e.contains("mean 13.3 of the last 3 ticks"), "{e}");
    }

    #[test]
    fn cooldown_counts_from_the_last_capture() {
        let mut c = Cooldown::default();
        let d = Duration::from_secs(10);
        assert!(c.ready(100.0, d));
        c.start(100.0);
        assert!(!c.ready(109.9, d));
        assert!(c.ready(110.0, d));
    }
}
