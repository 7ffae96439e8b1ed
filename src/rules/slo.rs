//! SLO accounting of one (SLO, target): cumulative good/total sample counters, and a fixed-size
//! ring of per-minute (good, total) counts over the SLO window, from which the error budget left
//! and the burn rates over 5m, 1h and 6h are computed, with the span the samples cover (a
//! budget is only meaningful once that span is long enough).
//!
//! Memory: one slot per minute of the window, two `u32` counts = 8 bytes a minute, growing with
//! the minutes the ring has seen: a 30-day window is at most 43,200 slots = 337.5 KiB per SLO
//! per target once 30 days have passed (an SLO whose signal a target never has costs nothing).
//! A `u32` holds a minute of samples at any interval and a minute of requests up to 71 million
//! a second (events and latency SLOs count the app's requests, not ticks).

use std::collections::VecDeque;

/// Burn-rate windows exported as `sidewatch_slo_burn_rate{window}`: (label, minutes).
pub const BURN_WINDOWS: [(&str, usize); 3] = [("5m", 5), ("1h", 60), ("6h", 360)];

#[derive(Debug, Clone, Default)]
pub struct MinuteRing {
    /// (good, total) per minute, oldest first, the newest at `head`; at most `minutes` slots.
    /// Minutes before the oldest slot had no samples.
    slots: VecDeque<[u32; 2]>,
    minutes: usize,
    /// The minute (Unix time / 60) of the newest slot.
    head: i64,
    /// Sums over every slot, kept up to date.
    good: u64,
    total: u64,
}

impl MinuteRing {
    pub fn new(minutes: usize) -> Self {
        MinuteRing {
            minutes: minutes.max(1),
            ..Default::default()
        }
    }

    fn push(&mut self, slot: [u32; 2]) {
        if let Some([g, t]) = crate::bounded::push(&mut self.slots, self.minutes, slot) {
            self.good -= u64::from(g);
            self.total -= u64::from(t);
        }
    }

    /// Moves the head to `minute`, with empty slots for the minutes in between (they had no
    /// samples). A minute before the head (the clock went back) counts as the head.
    pub fn advance(&mut self, minute: i64) {
        if self.slots.is_empty() || minute <= self.head {
            return;
        }
        let gap = minute - self.head;
        if gap >= self.minutes as i64 {
            // Every slot left the window.
            self.slots.clear();
            (self.good, self.total) = (0, 0);
            self.slots.push_back([0, 0]);
        } else {
            for _ in 0..gap {
                self.push([0, 0]);
            }
        }
        self.head = minute;
    }

    /// Counts one sample at `minute`.
    pub fn record(&mut self, minute: i64, good: bool) {
        self.record_counts(minute, u64::from(good), 1);
    }

    /// Counts `good` of `total` events at `minute` (a full slot saturates).
    pub fn record_counts(&mut self, minute: i64, good: u64, total: u64) {
        if self.slots.is_empty() {
            self.push([0, 0]);
            self.head = minute;
        }
        self.advance(minute);
        // `advance` leaves at least one slot: the head's.
        let Some(slot) = self.slots.back_mut() else {
            return;
        };
        let room = u64::from(u32::MAX - slot[1]);
        let total = total.min(room);
        let good = good.min(total);
        // Both fit in u32: at most `room`, which is at most u32::MAX - slot.
        slot[1] += total as u32;
        slot[0] += good as u32;
        self.total += total;
        self.good += good;
    }

    /// (good, total) over the whole window.
    pub fn window_counts(&self) -> (u64, u64) {
        (self.good, self.total)
    }

    /// (good, total) over the newest `n` minute slots (the current, partial minute included).
    pub fn recent_counts(&self, n: usize) -> (u64, u64) {
        self.slots
            .iter()
            .rev()
            .take(n.min(self.minutes))
            .fold((0, 0), |(g, t), [sg, st]| {
                (g + u64::from(*sg), t + u64::from(*st))
            })
    }

    /// Bytes held by the slots.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<[u32; 2]>()
    }
}

/// The share of the error budget left: 1 − (bad / total) / (1 − objective). Negative once the
/// budget is overspent; `None` without samples.
pub fn budget_remaining(good: u64, total: u64, objective: f64) -> Option<f64> {
    burn_rate(good, total, objective).map(|b| 1.0 - b)
}

/// How fast the budget burns: (bad / total) / (1 − objective); 1 spends exactly the budget over
/// the window. `None` without samples.
pub fn burn_rate(good: u64, total: u64, objective: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let error_ratio = (total - good.min(total)) as f64 / total as f64;
    Some(error_ratio / (1.0 - objective))
}

/// The budget is meaningful once the covered span reaches this share of the SLO window...
pub const BUDGET_MIN_WINDOW_SHARE: f64 = 0.1;
/// ... or this many seconds (24 h: a full daily cycle), whichever is less.
pub const BUDGET_MIN_COVERED_SECONDS: f64 = 86_400.0;

/// How much of a window the samples cover. A budget extrapolated from 2 minutes of a 30-day
/// window is not a budget, so consumers show it only when [`Coverage::budget_meaningful`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coverage {
    /// Time since the first sample, at most the window.
    pub covered_seconds: f64,
    pub window_seconds: f64,
}

impl Coverage {
    /// At least 10 % of the window or 24 h, whichever is less (6 min of 1h, 24 h of 30d).
    pub fn budget_meaningful(&self) -> bool {
        let needed =
            (BUDGET_MIN_WINDOW_SHARE * self.window_seconds).min(BUDGET_MIN_COVERED_SECONDS);
        self.covered_seconds >= needed
    }

    /// Whether a burn-rate window of `minutes` lies wholly in the covered span.
    pub fn covers_minutes(&self, minutes: usize) -> bool {
        self.covered_seconds >= minutes as f64 * 60.0
    }
}

/// Everything kept for one (SLO, target).
#[derive(Debug, Clone)]
pub struct SloState {
    pub samples_total: u64,
    pub good_total: u64,
    pub ring: MinuteRing,
    /// When the first sample was counted (Unix seconds): the start of the covered span.
    first_sample_at: Option<f64>,
    /// Events and latency SLOs: the summed increases as read (counters may be fractional);
    /// the integer counts follow their floors, so no fraction is lost between ticks.
    events_good: f64,
    events_total: f64,
}

impl SloState {
    pub fn new(window_minutes: usize) -> Self {
        SloState {
            samples_total: 0,
            good_total: 0,
            ring: MinuteRing::new(window_minutes),
            first_sample_at: None,
            events_good: 0.0,
            events_total: 0.0,
        }
    }

    /// Counts a sample at `now` (Unix seconds).
    pub fn record(&mut self, now: f64, good: bool) {
        self.first_sample_at.get_or_insert(now);
        self.samples_total += 1;
        self.good_total += u64::from(good);
        self.ring.record(minute_of(now), good);
    }

    /// Counts the app's events of one tick at `now`: `good` of `total` (increases of the app's
    /// counters; good is capped at total). Zero events still start the covered span.
    pub fn record_events(&mut self, now: f64, good: f64, total: f64) {
        self.first_sample_at.get_or_insert(now);
        let total = total.max(0.0);
        self.events_total += total;
        self.events_good += good.clamp(0.0, total);
        // Floors of finite non-negative sums: the casts saturate, never wrap.
        let (t, g) = (
            self.events_total.floor() as u64,
            self.events_good.floor() as u64,
        );
        let (dt, dg) = (t - self.samples_total.min(t), g - self.good_total.min(g));
        self.samples_total += dt;
        self.good_total += dg;
        self.ring.record_counts(minute_of(now), dg, dt);
    }

    /// The span from the first sample to `now`, at most the window. Ticks without a value (the
    /// target down) stay in the span: they were watched, and count neither good nor bad.
    pub fn coverage(&self, now: f64, window_seconds: f64) -> Coverage {
        let since = self.first_sample_at.map_or(0.0, |f| now - f);
        Coverage {
            covered_seconds: since.clamp(0.0, window_seconds),
            window_seconds,
        }
    }
}

pub fn minute_of(now: f64) -> i64 {
    (now / 60.0).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJ: f64 = 0.99;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    /// One sample a second for `minutes` minutes from minute 0; `bad(minute, second)` marks the
    /// bad ones.
    fn feed(ring: &mut MinuteRing, minutes: i64, seconds: i64, bad: impl Fn(i64, i64) -> bool) {
        for m in 0..minutes {
            for s in 0..seconds {
                ring.record(m, !bad(m, s));
            }
        }
    }

    #[test]
    fn budget_and_burn_rates_by_hand() {
        // 1 h window, 99 %: 59 full minutes of 60 samples, then a partial minute of 30.
        // Bad: 6 samples in minute 58, 3 in minute 59 (the partial one).
        let mut r = MinuteRing::new(60);
        feed(&mut r, 59, 60, |m, s| m == 58 && s < 6);
        for s in 0..30 {
            r.record(59, s >= 3);
        }
        let (g, t) = r.window_counts();
        assert_eq!((g, t), (3570 - 9, 3570));
        // Error ratio 9 / 3570; budget 1 % → consumed 0.25210…, remaining 0.74789…
        assert!(close(
            budget_remaining(g, t, OBJ),
            1.0 - (9.0 / 3570.0) / 0.01
        ));
        // 5m: minutes 55..=59: 4 × 60 + 30 = 270 samples, 9 bad → 3.333… × the budget rate.
        let (g5, t5) = r.recent_counts(5);
        assert_eq!((g5, t5), (261, 270));
        assert!(close(burn_rate(g5, t5, OBJ), (9.0 / 270.0) / 0.01));
        assert!(close(burn_rate(g5, t5, OBJ), 10.0 / 3.0));
        // 1h covers the whole ring; 6h is capped at the window.
        assert_eq!(r.recent_counts(60), (g, t));
        assert_eq!(r.recent_counts(360), (g, t));
    }

    #[test]
    fn old_minutes_leave_the_window() {
        let mut r = MinuteRing::new(60);
        feed(&mut r, 10, 60, |m, _| m == 0); // minute 0 all bad
        assert_eq!(r.window_counts(), (540, 600));
        // Minute 60 reuses minute 0's slot: its bad samples leave the window.
        r.record(60, true);
        assert_eq!(r.window_counts(), (541, 541));
        assert!(close(budget_remaining(541, 541, OBJ), 1.0));
        // A gap longer than the window clears everything.
        r.record(500, false);
        assert_eq!(r.window_counts(), (0, 1));
        assert!(close(budget_remaining(0, 1, OBJ), 1.0 - 100.0));
        // advance() without a sample expires minutes too.
        r.advance(600);
        assert_eq!(r.window_counts(), (0, 0));
        assert_eq!(budget_remaining(0, 0, OBJ), None);
    }

    #[test]
    fn burn_rate_one_spends_the_budget_exactly() {
        // 1 bad sample in 100 at 99 %: burn rate 1, nothing left at the end of the window.
        assert!(close(burn_rate(99, 100, OBJ), 1.0));
        assert!(close(budget_remaining(99, 100, OBJ), 0.0));
        // 14.4 × over 1 h spends 2 % of a 30-day budget: 14.4 / 720 hours.
        assert!(close(Some(14.4 * 1.0 / 720.0), 0.02));
    }

    #[test]
    fn clock_going_back_counts_in_the_head_minute() {
        let mut r = MinuteRing::new(10);
        r.record(100, true);
        r.record(99, false);
        assert_eq!(r.recent_counts(1), (1, 2));
    }

    #[test]
    fn coverage_grows_with_ticks_up_to_the_window() {
        let mut s = SloState::new(60);
        let t0 = 1_700_000_040.0;
        assert_eq!(s.coverage(t0, 3600.0).covered_seconds, 0.0);
        // N ticks 5 s apart cover (N - 1) × 5 s.
        for n in 0..73 {
            s.record(t0 + f64::from(n) * 5.0, true);
        }
        let c = s.coverage(t0 + 72.0 * 5.0, 3600.0);
        assert_eq!(c.covered_seconds, 360.0);
        assert_eq!(s.coverage(t0 + 10_000.0, 3600.0).covered_seconds, 3600.0);
        // A clock that went back gives no negative span.
        assert_eq!(s.coverage(t0 - 50.0, 3600.0).covered_seconds, 0.0);
    }

    #[test]
    fn budget_is_meaningful_from_ten_percent_of_the_window_or_a_day() {
        let c = |covered_seconds, window_seconds| Coverage {
            covered_seconds,
            window_seconds,
        };
        assert!(!c(359.0, 3600.0).budget_meaningful());
        assert!(c(360.0, 3600.0).budget_meaningful());
        // 7 days: 10 % is 16.8 h.
        assert!(!c(60_479.0, 7.0 * 86_400.0).budget_meaningful());
        assert!(c(60_480.0, 7.0 * 86_400.0).budget_meaningful());
        // 30 days: 24 h is less than 10 % (3 days).
        assert!(!c(86_399.0, 30.0 * 86_400.0).budget_meaningful());
        assert!(c(86_400.0, 30.0 * 86_400.0).budget_meaningful());
        assert!(!c(299.0, 3600.0).covers_minutes(5));
        assert!(c(300.0, 3600.0).covers_minutes(5));
    }

    #[test]
    fn memory_grows_with_the_minutes_held_up_to_the_window() {
        let mut s = SloState::new(30 * 24 * 60);
        assert_eq!(s.ring.memory_bytes(), 0);
        let t0 = 1_700_000_000.0;
        s.record(t0, true);
        assert_eq!(s.ring.memory_bytes(), 4 * 8);
        // 10,000 ticks 5 s apart: 834 minutes, not 30 days.
        for i in 0..10_000 {
            s.record(t0 + i as f64 * 5.0, i % 10 != 0);
        }
        assert_eq!(s.ring.memory_bytes(), 1024 * 8);
        assert_eq!((s.samples_total, s.good_total), (10_001, 9_001));
        // A sample a minute for 31 days: full, and no larger than the window.
        for m in 0..31 * 24 * 60 {
            s.record(t0 + 50_000.0 + m as f64 * 60.0, true);
        }
        assert_eq!(s.ring.memory_bytes(), 43_200 * 8);
        assert_eq!(s.ring.window_counts(), (43_200, 43_200));
    }
}
