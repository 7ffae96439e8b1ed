//! The alert state machine of one (rule, target), the same as Prometheus's alerting rules:
//! inactive → pending when the condition starts to hold; pending → firing once it has held for
//! the rule's `for`; a pending alert whose condition clears is dropped (inactive); a firing
//! alert whose condition clears resolves (inactive), unless `keep_firing_for` keeps it firing
//! until the condition has been clear that long. An unknown condition (the signal could not be
//! read) changes nothing. Also the increase of counter signals over a window.

use std::collections::VecDeque;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Inactive,
    Pending,
    Firing,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Inactive => "inactive",
            Phase::Pending => "pending",
            Phase::Firing => "firing",
        }
    }
}

/// A transition worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Pending,
    Firing,
    Resolved,
    Dropped,
}

/// Times are seconds since the Unix epoch (the tick's timestamp).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertState {
    pub phase: Phase,
    /// When the condition started to hold (pending or firing).
    pub active_at: f64,
    pub fired_at: Option<f64>,
    /// When the condition of a firing alert first cleared (with `keep_firing_for`).
    pub keep_firing_since: Option<f64>,
    /// The last value that held the condition.
    pub value: f64,
}

impl AlertState {
    /// One evaluation at `now`: `condition` is whether the rule holds (`None`: unknown),
    /// `hold` the rule's `for` and `keep` its `keep_firing_for`, both in seconds.
    pub fn step(
        &mut self,
        now: f64,
        condition: Option<bool>,
        value: f64,
        hold: f64,
        keep: f64,
    ) -> Option<Transition> {
        let mut transition = None;
        match condition {
            None => return None,
            Some(true) => {
                if self.phase == Phase::Inactive {
                    self.phase = Phase::Pending;
                    self.active_at = now;
                    self.fired_at = None;
                    transition = Some(Transition::Pending);
                }
                self.keep_firing_since = None;
                self.value = value;
            }
            Some(false) => match self.phase {
                Phase::Inactive => return None,
                Phase::Pending => {
                    *self = AlertState::default();
                    return Some(Transition::Dropped);
                }
                Phase::Firing => {
                    if keep > 0.0 {
                        let since = *self.keep_firing_since.get_or_insert(now);
                        if now - since < keep {
                            return None;
                        }
                    }
                    *self = AlertState::default();
                    return Some(Transition::Resolved);
                }
            },
        }
        if self.phase == Phase::Pending && now - self.active_at >= hold {
            self.phase = Phase::Firing;
            self.fired_at = Some(now);
            transition = Some(Transition::Firing);
        }
        transition
    }
}

/// Recent values of a counter, enough to know its increase over a window. Holds at most about
/// [`CounterHistory::MAX_POINTS`] points whatever the window and the interval.
#[derive(Debug, Clone, Default)]
pub struct CounterHistory {
    points: VecDeque<(f64, f64)>,
}

impl CounterHistory {
    pub const MAX_POINTS: usize = 512;

    /// Records `value` at `now` and returns its increase over the last `window` seconds: the
    /// value now minus the value `window` ago (the newest point at or before `now - window`, or
    /// the oldest point while the history is shorter than the window).
    pub fn increase(&mut self, now: f64, value: f64, window: f64) -> f64 {
        let boundary = now - window;
        let base = self
            .points
            .iter()
            .rev()
            .find(|(t, _)| *t <= boundary)
            .or(self.points.front())
            .map_or(value, |(_, v)| *v);
        let step = window / Self::MAX_POINTS as f64;
        if self.points.back().is_none_or(|(t, _)| now - t >= step) {
            self.points.push_back((now, value));
        }
        // Keep one point at or before the boundary; drop the older ones.
        while self.points.len() >= 2 && self.points[1].0 <= boundary {
            self.points.pop_front();
        }
        (value - base).max(0.0)
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `conds` at 1 s steps from t = 0 and returns the phase after each step.
    fn run(conds: &[Option<bool>], hold: f64, keep: f64) -> Vec<Phase> {
        let mut a = AlertState::default();
        conds
            .iter()
            .enumerate()
            .map(|(t, c)| {
                a.step(t as f64, *c, 1.0, hold, keep);
                a.phase
            })
            .collect()
    }

    use Phase::{Firing as F, Inactive as I, Pending as P};
    const T: Option<bool> = Some(true);
    const N: Option<bool> = Some(false);

    #[test]
    fn pending_is_not_yet_firing() {
        assert_eq!(run(&[N, T, T, T], 5.0, 0.0), [I, P, P, P]);
    }

    #[test]
    fn fires_after_for_and_resolves() {
        // Active at t=1; for 3 s: firing at t=4 (4 - 1 >= 3), resolved at the first false.
        assert_eq!(
            run(&[N, T, T, T, T, T, N, N], 3.0, 0.0),
            [I, P, P, P, F, F, I, I]
        );
        let mut a = AlertState::default();
        assert_eq!(a.step(10.0, T, 7.0, 3.0, 0.0), Some(Transition::Pending));
        assert_eq!(a.step(13.0, T, 8.0, 3.0, 0.0), Some(Transition::Firing));
        assert_eq!((a.active_at, a.fired_at, a.value), (10.0, Some(13.0), 8.0));
        assert_eq!(a.step(14.0, N, 0.0, 3.0, 0.0), Some(Transition::Resolved));
        assert_eq!(a, AlertState::default());
    }

    #[test]
    fn zero_for_fires_at_once() {
        assert_eq!(run(&[N, T, N], 0.0, 0.0), [I, F, I]);
    }

    #[test]
    fn pending_that_clears_is_dropped_and_restarts_from_scratch() {
        let mut a = AlertState::default();
        a.step(0.0, T, 1.0, 3.0, 0.0);
        a.step(2.0, T, 1.0, 3.0, 0.0);
        assert_eq!(a.step(3.0, N, 1.0, 3.0, 0.0), Some(Transition::Dropped));
        assert_eq!(a.phase, I);
        a.step(4.0, T, 1.0, 3.0, 0.0);
        assert_eq!(a.active_at, 4.0, "a new pending period starts over");
        a.step(6.0, T, 1.0, 3.0, 0.0);
        assert_eq!(a.phase, P, "6 - 4 < 3");
        a.step(7.0, T, 1.0, 3.0, 0.0);
        assert_eq!(a.phase, F);
    }

    #[test]
    fn keep_firing_for_holds_a_cleared_alert() {
        // Firing at t=1 (for 0); clear from t=3; keep 3 s: still firing at 3, 4, 5, resolved at
        // 6 (6 - 3 >= 3), as Prometheus does.
        assert_eq!(
            run(&[N, T, T, N, N, N, N, N], 0.0, 3.0),
            [I, F, F, F, F, F, I, I]
        );
        // A condition that returns within keep_firing_for resets the countdown.
        assert_eq!(
            run(&[T, N, N, T, N, N, N, N], 0.0, 3.0),
            [F, F, F, F, F, F, F, I]
        );
        // keep_firing_for does not apply to pending alerts.
        assert_eq!(run(&[T, N], 5.0, 3.0), [P, I]);
    }

    #[test]
    fn flapping_never_fires_with_for() {
        assert_eq!(
            run(&[T, N, T, N, T, N, T, N], 2.0, 0.0),
            [P, I, P, I, P, I, P, I]
        );
        // ... and with for 0 it follows the condition.
        assert_eq!(run(&[T, N, T, N], 0.0, 0.0), [F, I, F, I]);
    }

    #[test]
    fn unknown_condition_keeps_the_state() {
        assert_eq!(run(&[T, None, None, None, T], 2.0, 0.0), [P, P, P, P, F]);
        assert_eq!(run(&[T, None, N], 0.0, 0.0), [F, F, I]);
    }

    #[test]
    fn counter_increase_over_a_window() {
        let mut h = CounterHistory::default();
        // A counter ticking every 1 s: 0 until t=5, 1 from t=5, 3 from t=8.
        let values = [
            0., 0., 0., 0., 0., 1., 1., 1., 3., 3., 3., 3., 3., 3., 3., 3.,
        ];
        let got: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(t, v)| h.increase(t as f64, *v, 4.0))
            .collect();
        // Increase over 4 s = value(t) - value(t - 4).
        assert_eq!(
            got,
            [
                0., 0., 0., 0., 0., 1., 1., 1., 3., 2., 2., 2., 0., 0., 0., 0.
            ]
        );
        assert!(h.len() <= 6, "{}", h.len());
    }

    #[test]
    fn counter_history_is_bounded() {
        let mut h = CounterHistory::default();
        for t in 0..100_000 {
            h.increase(t as f64, t as f64, 86_400.0);
        }
        assert!(h.len() <= CounterHistory::MAX_POINTS + 2, "{}", h.len());
        // Decimated points make the window at most one step longer than asked.
        let inc = h.increase(100_000.0, 100_000.0, 86_400.0);
        assert!(
            (86_400.0..=86_400.0 + 86_400.0 / 512.0 + 1.0).contains(&inc),
            "{inc}"
        );
    }
}
