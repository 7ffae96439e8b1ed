//! Trends: a robust slope of a signal's floor over a window, and the leak rule. Pure functions
//! of (time, value) series; tested on synthetic series with known answers.
//!
//! **Floors.** The window is cut into [`SEGMENTS`] equal segments and each segment's minimum
//! (with its time) is its floor: a garbage collector's sawtooth whose period is shorter than a
//! segment leaves one floor per segment at the post-collection level, so a flat floor reads as
//! flat. **Slope.** The Theil–Sen estimator over the floors: the median of the slopes of every
//! pair, which ignores up to ~29 % of outlying floors. On a linear series the floors are exact
//! points of the line and the slope is exact.

use std::time::Duration;

use serde::Serialize;

/// Segments per window.
pub const SEGMENTS: usize = 12;
/// A window is covered when its data reaches back at least this share of the window...
pub const COVERAGE: f64 = 0.9;
/// ... and at least this many segments hold a value.
pub const MIN_SEGMENTS: usize = 9;

/// 1 MiB: the smallest rise the leak rule and the time-to-limit take as growth.
pub const MIN_RISE_BYTES: f64 = 1024.0 * 1024.0;
/// The floor must rise by at least this share of the first floor (or [`MIN_RISE_BYTES`]).
pub const MIN_RISE_SHARE: f64 = 0.02;
/// At least this share of the steps between floors must rise...
pub const MIN_RISING_STEPS: f64 = 2.0 / 3.0;
/// ... and none may fall by more than this share of the total rise.
pub const MAX_FALL_SHARE: f64 = 0.1;
/// The second half of the window must hold at least this share of the rise (a warm-up that
/// levels off is not a leak).
pub const MIN_SECOND_HALF_SHARE: f64 = 0.25;

/// The median of `v` (mean of the two middle values for an even length); `None` when empty.
/// Reorders `v`.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Theil–Sen slope: the median of the slopes of all pairs of points with distinct times.
/// `None` with fewer than two distinct times.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.0 - a.0;
            if dt.abs() > 1e-9 {
                slopes.push((b.1 - a.1) / dt);
            }
        }
    }
    median(&mut slopes)
}

/// The floor (minimum, with its time) of each of `segments` equal segments of
/// `[start, end]`; `None` for a segment without a value. Points outside are ignored.
pub fn floors(
    points: impl IntoIterator<Item = (f64, f64)>,
    start: f64,
    end: f64,
    segments: usize,
) -> Vec<Option<(f64, f64)>> {
    let mut out: Vec<Option<(f64, f64)>> = vec![None; segments];
    let len = end - start;
    if len <= 0.0 || segments == 0 {
        return out;
    }
    for (t, v) in points {
        if t < start || t > end || !v.is_finite() {
            continue;
        }
        let k = (((t - start) / len * segments as f64) as usize).min(segments - 1);
        match &mut out[k] {
            Some((_, m)) if *m <= v => {}
            slot => *slot = Some((t, v)),
        }
    }
    out
}

/// The trend of one signal over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowTrend {
    /// `15m`, `1h`, `6h`: the `window` label.
    pub window: String,
    pub window_seconds: f64,
    /// Where the series came from: `raw` (every tick) or `minutes` (per-minute minima).
    pub source: &'static str,
    /// Enough data: it reaches back [`COVERAGE`] of the window and [`MIN_SEGMENTS`] segments
    /// hold a value. Growth is reported only then.
    pub covered: bool,
    /// Theil–Sen slope of the floors, per second.
    pub growth_per_second: Option<f64>,
    /// The floors: (Unix seconds, value) of each segment that has one.
    pub floors: Vec<(f64, f64)>,
}

/// Computes the trend of `points` (time, value; any order) over `[now - window, now]`.
/// `oldest` is the time of the oldest point the source holds (for the coverage test).
pub fn window_trend(
    points: impl IntoIterator<Item = (f64, f64)>,
    now: f64,
    window: Duration,
    oldest: Option<f64>,
    source: &'static str,
) -> WindowTrend {
    let w = window.as_secs_f64();
    let floors: Vec<(f64, f64)> = floors(points, now - w, now, SEGMENTS)
        .into_iter()
        .flatten()
        .collect();
    let reaches_back = oldest.is_some_and(|o| o <= now - COVERAGE * w);
    let covered = reaches_back && floors.len() >= MIN_SEGMENTS;
    WindowTrend {
        window: crate::units::prom_duration(window),
        window_seconds: w,
        source,
        covered,
        growth_per_second: if covered { theil_sen(&floors) } else { None },
        floors,
    }
}

/// The leak rule applied to a working-set trend, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeakVerdict {
    pub window: String,
    pub suspected: bool,
    /// Last floor − first floor, bytes.
    pub rise_bytes: f64,
    /// max(1 MiB, 2 % of the first floor).
    pub rise_needed_bytes: f64,
    /// Steps between consecutive floors that rose, and how many are needed (2/3).
    pub rising_steps: usize,
    pub steps: usize,
    pub rising_steps_needed: usize,
    /// The largest drop between consecutive floors, and the drop allowed (10 % of the rise).
    pub largest_fall_bytes: f64,
    pub allowed_fall_bytes: f64,
    /// Share of the rise that happened in the second half of the window (needed: 25 %).
    pub second_half_share: Option<f64>,
    pub growth_bytes_per_second: Option<f64>,
    /// One sentence per condition, saying whether it held.
    pub evidence: Vec<String>,
}

/// What the leak rule measures: the smallest rise that counts, and how a value is written.
#[derive(Debug, Clone, Copy)]
pub struct LeakScale {
    pub min_rise: f64,
    pub min_rise_text: &'static str,
    pub show: fn(f64) -> String,
}

/// The working set: bytes, a rise of at least 1 MiB.
pub const MEMORY: LeakScale = LeakScale {
    min_rise: MIN_RISE_BYTES,
    min_rise_text: "1 MiB",
    show: crate::units::human_bytes,
};

/// Runtime tasks (goroutines, threads, handles): a rise of at least 10 tasks. A goroutine leak
/// is the same shape as a memory leak: a floor that keeps rising, whatever the load does.
pub const TASKS: LeakScale = LeakScale {
    min_rise: 10.0,
    min_rise_text: "10",
    show: crate::units::go_g4,
};

/// Applies the leak rule to a covered working-set trend: the post-collection floor rose steadily
/// across the window. All of:
/// 1. the Theil–Sen growth is positive and the floor rose by at least max(1 MiB, 2 % of the
///    first floor);
/// 2. at least 2/3 of the steps between consecutive floors rose, and none fell by more than
///    10 % of the total rise;
/// 3. at least 25 % of the rise happened in the second half of the window.
///
/// `None` when the trend is not covered.
pub fn leak_verdict(t: &WindowTrend) -> Option<LeakVerdict> {
    leak_verdict_on(t, &MEMORY)
}

/// The leak rule on a trend of any quantity, measured by `scale` (for memory, [`leak_verdict`];
/// the `_bytes` fields of the verdict are then in the quantity's unit).
pub fn leak_verdict_on(t: &WindowTrend, scale: &LeakScale) -> Option<LeakVerdict> {
    if !t.covered || t.floors.len() < 2 {
        return None;
    }
    let f = &t.floors;
    let first = f[0].1;
    let last = f[f.len() - 1].1;
    let rise = last - first;
    let needed = scale.min_rise.max(MIN_RISE_SHARE * first.max(0.0));
    let steps = f.len() - 1;
    let rising = f.windows(2).filter(|w| w[1].1 > w[0].1).count();
    let rising_needed = (MIN_RISING_STEPS * steps as f64).ceil() as usize;
    let largest_fall = f
        .windows(2)
        .map(|w| w[0].1 - w[1].1)
        .fold(0.0_f64, f64::max);
    let allowed_fall = MAX_FALL_SHARE * rise.max(0.0);
    // The floor at the middle of the window: the last floor in the first half.
    let mid_t = f[0].0 + (f[f.len() - 1].0 - f[0].0) / 2.0;
    let mid = f
        .iter()
        .take_while(|(t, _)| *t <= mid_t)
        .last()
        .map_or(first, |p| p.1);
    let second_half = (rise > 0.0).then(|| (last - mid) / rise);
    let growth = t.growth_per_second;

    let size = scale.show;
    let ok = |b: bool| if b { "holds" } else { "fails" };
    let c1 = growth.is_some_and(|g| g > 0.0) && rise >= needed;
    let c2 = rising >= rising_needed && largest_fall <= allowed_fall;
    let c3 = second_half.is_some_and(|s| s >= MIN_SECOND_HALF_SHARE);
    let w = &t.window;
    let evidence = vec![
        format!(
            "rise ({}): the floor went from {} to {} over {w} ({}), needed max({}, 2 % of the first floor) = {}",
            ok(c1),
            size(first),
            size(last),
            size(rise),
            scale.min_rise_text,
            size(needed)
        ),
        format!(
            "steady ({}): {rising} of {steps} steps between floors rose (needed {rising_needed}); the largest fall was {} (allowed 10 % of the rise: {})",
            ok(c2),
            size(largest_fall),
            size(allowed_fall)
        ),
        format!(
            "spread ({}): the second half of the window holds {} of the rise (needed 25 %)",
            ok(c3),
            second_half.map_or("none".to_string(), |s| format!(
                "{} %",
                crate::units::go_g4(s * 100.0)
            ))
        ),
    ];
    Some(LeakVerdict {
        window: t.window.clone(),
        suspected: c1 && c2 && c3,
        rise_bytes: rise,
        rise_needed_bytes: needed,
        rising_steps: rising,
        steps,
        rising_steps_needed: rising_needed,
        largest_fall_bytes: largest_fall,
        allowed_fall_bytes: allowed_fall,
        second_half_share: second_half,
        growth_bytes_per_second: growth,
        evidence,
    })
}

/// Growth that counts for the time to the limit: over the window it adds at least
/// max(1 MiB, 1 % of the current working set).
pub fn significant_growth(t: &WindowTrend, working_set: f64) -> Option<f64> {
    let g = t.growth_per_second.filter(|g| *g > 0.0)?;
    (g * t.window_seconds >= MIN_RISE_BYTES.max(0.01 * working_set)).then_some(g)
}

/// Seconds until `working_set` reaches `limit` at `growth` bytes per second (0 when already
/// there).
pub fn time_to_limit(working_set: f64, limit: f64, growth: f64) -> Option<f64> {
    (growth > 0.0 && limit.is_finite()).then(|| ((limit - working_set) / growth).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    /// A deterministic pseudo-random number in [-1, 1) (an LCG), for noise.
    fn noise(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn series(n: usize, step: f64, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let t = 1_000_000.0 + i as f64 * step;
                (t, f(t - 1_000_000.0))
            })
            .collect()
    }

    fn trend(points: &[(f64, f64)], window: Duration) -> WindowTrend {
        let now = points.last().unwrap().0;
        window_trend(
            points.iter().copied(),
            now,
            window,
            points.first().map(|p| p.0),
            "raw",
        )
    }

    #[test]
    fn median_and_theil_sen_basics() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(theil_sen(&[(0.0, 1.0)]), None);
        assert_eq!(theil_sen(&[(0.0, 1.0), (0.0, 5.0)]), None);
        // One wild outlier among five points on y = 2x + 1 does not move the slope.
        let pts = [(0.0, 1.0), (1.0, 3.0), (2.0, 500.0), (3.0, 7.0), (4.0, 9.0)];
        assert_eq!(theil_sen(&pts), Some(2.0));
    }

    #[test]
    fn floors_take_each_segments_minimum() {
        let pts = [
            (0.0, 5.0),
            (1.0, 3.0),
            (2.5, 9.0),
            (3.5, 1.0),
            (9.0, f64::NAN),
        ];
        let f = floors(pts, 0.0, 4.0, 2);
        assert_eq!(f, vec![Some((1.0, 3.0)), Some((3.5, 1.0))]);
        assert_eq!(floors(pts, 0.0, 8.0, 4)[2], None);
    }

    #[test]
    fn linear_growth_is_exact_and_a_leak() {
        // 1 MiB per minute for an hour, a point every 5 s: 12 MiB/min·... = 17,476.27 B/s.
        let rate = MIB / 60.0;
        let pts = series(721, 5.0, |t| 200.0 * MIB + rate * t);
        let t = trend(&pts, Duration::from_secs(3600));
        assert!(t.covered);
        assert_eq!(t.floors.len(), SEGMENTS);
        let g = t.growth_per_second.unwrap();
        assert!((g - rate).abs() < 1e-6 * rate, "{g} vs {rate}");
        let v = leak_verdict(&t).unwrap();
        assert!(v.suspected, "{:#?}", v.evidence);
        assert_eq!(v.rising_steps, SEGMENTS - 1);
        assert!(
            v.evidence[0].starts_with("rise (holds)"),
            "{}",
            v.evidence[0]
        );
        // Decreasing memory: exact negative slope, no leak.
        let pts = series(721, 5.0, |t| 400.0 * MIB - rate * t);
        let t = trend(&pts, Duration::from_secs(3600));
        let g = t.growth_per_second.unwrap();
        assert!((g + rate).abs() < 1e-6 * rate);
        assert!(!leak_verdict(&t).unwrap().suspected);
    }

    /// A GC sawtooth: the heap climbs 100 MiB over 50 s, then a collection drops it back to
    /// the floor, which is `floor(t)`.
    fn sawtooth(t: f64, floor: impl Fn(f64) -> f64) -> f64 {
        let phase = t % 50.0;
        floor(t) + 100.0 * MIB * phase / 50.0
    }

    #[test]
    fn gc_sawtooth_with_a_flat_floor_is_no_growth_and_no_leak() {
        let pts = series(721, 5.0, |t| sawtooth(t, |_| 300.0 * MIB));
        let t = trend(&pts, Duration::from_secs(3600));
        assert!(t.covered);
        // Every 5-minute segment contains troughs at exactly the floor.
        assert_eq!(t.growth_per_second, Some(0.0));
        let v = leak_verdict(&t).unwrap();
        assert!(!v.suspected);
        assert_eq!(v.rise_bytes, 0.0);
        assert!(v.evidence[0].starts_with("rise (fails)"));
        // A least-squares line through the same ticks is not robust: the partial teeth at the
        // window's edges tilt it into phantom growth.
        let n = pts.len() as f64;
        let (mt, mv) = pts
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
        let ols = pts.iter().map(|p| (p.0 - mt) * (p.1 - mv)).sum::<f64>()
            / pts.iter().map(|p| (p.0 - mt).powi(2)).sum::<f64>();
        assert!(ols.abs() > 100.0, "least squares reads {ols} B/s");
    }

    #[test]
    fn gc_sawtooth_with_a_rising_floor_is_a_leak_at_the_floors_rate() {
        let rate = 2.0 * MIB / 60.0;
        let pts = series(721, 5.0, |t| sawtooth(t, |t| 300.0 * MIB + rate * t));
        let t = trend(&pts, Duration::from_secs(3600));
        let g = t.growth_per_second.unwrap();
        // The floor is sampled at the troughs (every 50 s, on 5 s ticks): exact slope.
        assert!((g - rate).abs() < 0.02 * rate, "{g} vs {rate}");
        let v = leak_verdict(&t).unwrap();
        assert!(v.suspected, "{:#?}", v.evidence);
    }

    #[test]
    fn noise_is_no_growth_and_no_leak() {
        let mut s = 42u64;
        let pts: Vec<(f64, f64)> = series(721, 5.0, |_| 0.0)
            .into_iter()
            .map(|(t, _)| (t, 300.0 * MIB + 20.0 * MIB * noise(&mut s)))
            .collect();
        let t = trend(&pts, Duration::from_secs(3600));
        let g = t.growth_per_second.unwrap();
        // Floors of uniform noise sit near the bottom of its range: |slope| ≪ the noise over
        // the window (40 MiB / 3600 s = 11.6 kB/s).
        assert!(g.abs() < 300.0, "{g}");
        assert!(!leak_verdict(&t).unwrap().suspected);
        assert_eq!(significant_growth(&t, 300.0 * MIB), None);
    }

    #[test]
    fn noisy_linear_growth_is_found_within_ten_percent() {
        let mut s = 7u64;
        let rate = 50_000.0; // B/s = 180 MB/h
        let pts: Vec<(f64, f64)> = series(721, 5.0, |t| 500.0 * MIB + rate * t)
            .into_iter()
            .map(|(t, v)| (t, v + 10.0 * MIB * noise(&mut s)))
            .collect();
        let t = trend(&pts, Duration::from_secs(3600));
        let g = t.growth_per_second.unwrap();
        assert!((g - rate).abs() < 0.1 * rate, "{g} vs {rate}");
        let v = leak_verdict(&t).unwrap();
        assert!(v.suspected, "{:#?}", v.evidence);
    }

    #[test]
    fn a_warm_up_that_levels_off_is_not_a_leak() {
        // +200 MiB in the first ten minutes, flat afterwards (caches filling up).
        let pts = series(721, 5.0, |t| {
            100.0 * MIB + 200.0 * MIB * (t / 600.0).min(1.0)
        });
        let t = trend(&pts, Duration::from_secs(3600));
        let v = leak_verdict(&t).unwrap();
        assert!(!v.suspected);
        assert_eq!(v.second_half_share, Some(0.0));
        assert!(
            v.evidence[2].starts_with("spread (fails)"),
            "{}",
            v.evidence[2]
        );
    }

    #[test]
    fn a_restart_that_drops_the_floor_is_not_a_leak() {
        let rate = MIB / 60.0;
        let pts = series(721, 5.0, |t| 100.0 * MIB + rate * (t % 2400.0));
        let v = leak_verdict(&trend(&pts, Duration::from_secs(3600))).unwrap();
        assert!(!v.suspected);
        assert!(v.largest_fall_bytes > v.allowed_fall_bytes);
    }

    #[test]
    fn a_tiny_steady_rise_is_not_a_leak() {
        // 512 KiB over the hour: under the 1 MiB minimum.
        let pts = series(721, 5.0, |t| 300.0 * MIB + 512.0 * 1024.0 * t / 3600.0);
        let v = leak_verdict(&trend(&pts, Duration::from_secs(3600))).unwrap();
        assert!(!v.suspected);
        assert_eq!(v.rise_needed_bytes, 0.02 * 300.0 * MIB);
    }

    #[test]
    fn coverage_needs_history_back_to_ninety_percent_of_the_window() {
        let pts = series(400, 5.0, |t| t);
        // 1995 s of data for a 1 h window: not covered, no growth.
        let t = trend(&pts, Duration::from_secs(3600));
        assert!(!t.covered);
        assert_eq!(t.growth_per_second, None);
        assert_eq!(leak_verdict(&t), None);
        // A gap (target down) that empties four segments: not covered either.
        let mut pts = series(721, 5.0, |t| t);
        pts.retain(|(t, _)| !(1_000_300.0..1_001_500.0).contains(t));
        let t = trend(&pts, Duration::from_secs(3600));
        assert!(t.floors.len() < MIN_SEGMENTS);
        assert!(!t.covered);
    }

    #[test]
    fn time_to_limit_arithmetic() {
        assert_eq!(time_to_limit(100.0, 1100.0, 10.0), Some(100.0));
        assert_eq!(time_to_limit(2000.0, 1100.0, 10.0), Some(0.0));
        assert_eq!(time_to_limit(100.0, 1100.0, 0.0), None);
        assert_eq!(time_to_limit(100.0, 1100.0, -1.0), None);
    }
}
