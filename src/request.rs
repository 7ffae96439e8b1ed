//! Request SLIs from the application's own series: counter selectors (`name{label=~"re"}`),
//! increases between two readings with Prometheus's counter-reset rule, the common HTTP
//! server histograms (detected by name), and `histogram_quantile` as Prometheus computes it.
//! Pure functions over parsed expositions; the rules engine keeps the previous readings.

use std::collections::BTreeMap;

use regex_lite::Regex;

use crate::source::exposition::{Exposition, Sample};

// ---------------------------------------------------------------------------------------------
// Selectors.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    op: MatchOp,
    value: String,
    /// Anchored, as PromQL anchors `=~` and `!~`.
    re: Option<Regex>,
}

impl Matcher {
    fn matches(&self, s: &Sample) -> bool {
        // An absent label matches as the empty string, as in PromQL.
        let v = s.label(&self.label).unwrap_or("");
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

/// A PromQL-style instant selector over the app's samples: `http_requests_total` or
/// `http_requests_total{code!~"5..", method="GET"}`.
#[derive(Debug, Clone)]
pub struct Selector {
    pub name: String,
    matchers: Vec<Matcher>,
    /// As written (equality and display).
    pub text: String,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let t = text.trim();
        let (name, rest) = match t.find('{') {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!(
                "{text:?}: expected a metric name, then optional matchers, as in http_requests_total{{code!~\"5..\"}}"
            ));
        }
        let mut matchers = Vec::new();
        if let Some(rest) = rest {
            let body = rest
                .strip_suffix('}')
                .ok_or_else(|| format!("{text:?}: the matchers must end with `}}`"))?;
            let mut s = body.trim();
            while !s.is_empty() {
                let (m, tail) = parse_matcher(s).map_err(|e| format!("{text:?}: {e}"))?;
                matchers.push(m);
                s = tail.trim_start();
                s = s.strip_prefix(',').unwrap_or(s).trim_start();
            }
        }
        Ok(Selector {
            name: name.to_string(),
            matchers,
            text: t.to_string(),
        })
    }

    /// Whether `s` is one of the samples the selector picks.
    pub fn matches(&self, s: &Sample) -> bool {
        s.name == self.name && self.matchers.iter().all(|m| m.matches(s))
    }

    /// Each selected series (by its labels) and its value.
    pub fn read(&self, e: &Exposition) -> Series {
        let mut out = Series::new();
        for s in e.samples(&self.name).filter(|s| self.matches(s)) {
            out.insert(series_key(s), s.value);
        }
        out
    }
}

/// One `label op "value"` at the start of `s`; returns it and the rest.
fn parse_matcher(s: &str) -> Result<(Matcher, &str), String> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let label = &s[..end];
    if label.is_empty() {
        return Err(format!("expected a label name at {s:?}"));
    }
    let rest = s[end..].trim_start();
    let (op, rest) = [
        ("=~", MatchOp::Re),
        ("!~", MatchOp::NotRe),
        ("!=", MatchOp::Ne),
        ("=", MatchOp::Eq),
    ]
    .iter()
    .find_map(|(p, op)| rest.strip_prefix(p).map(|r| (*op, r)))
    .ok_or_else(|| format!("expected =, !=, =~ or !~ after label {label}"))?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix('"')
        .ok_or_else(|| format!("the value of label {label} must be in double quotes"))?;
    let close = rest
        .find('"')
        .ok_or_else(|| format!("unterminated value of label {label}"))?;
    let value = rest[..close].to_string();
    let re = match op {
        MatchOp::Re | MatchOp::NotRe => Some(
            Regex::new(&format!("^(?:{value})$"))
                .map_err(|e| format!("label {label}: bad regex {value:?}: {e}"))?,
        ),
        _ => None,
    };
    Ok((
        Matcher {
            label: label.to_string(),
            op,
            value,
            re,
        },
        &rest[close + 1..],
    ))
}

/// The values of selected series, by their label set (sorted `k="v"` pairs).
pub type Series = BTreeMap<String, f64>;

pub fn series_key(s: &Sample) -> String {
    let mut l: Vec<_> = s.labels.iter().collect();
    l.sort();
    l.iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The summed increase of counters from `prev` to `cur`. A series lower than before was reset
/// (the app restarted): it counts from zero, as Prometheus's `rate`/`increase` do. A series new
/// since `prev` was created in between and counts from zero too.
pub fn increase(prev: &Series, cur: &Series) -> f64 {
    cur.iter()
        .map(|(k, &v)| match prev.get(k) {
            Some(&p) if v >= p => v - p,
            _ => v,
        })
        .filter(|d| d.is_finite())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// histogram_quantile.

/// The `le` of a bucket sample, parsed as Prometheus parses it (`+Inf`, `1e0`, `.2`).
pub fn le_of(s: &Sample) -> Option<f64> {
    let le = s.label("le")?;
    match le {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        _ => le.parse().ok(),
    }
}

/// The φ-quantile of cumulative buckets `(upper bound, count)`, exactly as Prometheus's
/// `histogram_quantile` (promql/quantile.go): linear within the bucket, the first bucket's lower
/// bound 0 (unless its upper bound is ≤ 0), a rank in the +Inf bucket gives the largest finite
/// bound, and `None` (Prometheus's NaN) without a +Inf bucket or without observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return None;
    }
    // Coalesce equal bounds (different spellings of one `le`), then force monotonic counts.
    b.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 += later.1;
        }
        same
    });
    let mut max = f64::NEG_INFINITY;
    for x in &mut b {
        max = max.max(x.1);
        x.1 = max;
    }
    if b.len() < 2 {
        return None;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let i = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if i == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    if i == 0 && b[0].0 <= 0.0 {
        return Some(b[0].0);
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

// ---------------------------------------------------------------------------------------------
// HTTP server histograms.

/// A histogram of request durations in seconds and the label holding the status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHistogram {
    pub name: String,
    pub status_label: String,
}

/// The histograms recognised without configuration, in order of preference: OpenTelemetry's
/// semantic conventions, Micrometer (Spring), Prometheus's own server.
pub const KNOWN_HTTP_HISTOGRAMS: [(&str, &str); 3] = [
    (
        "http_server_request_duration_seconds",
        "http_response_status_code",
    ),
    ("http_server_requests_seconds", "status"),
    ("prometheus_http_request_duration_seconds", "code"),
];

/// Status labels tried on a configured histogram without `status_label`.
pub const STATUS_LABELS: [&str; 3] = ["code", "status", "status_code"];

impl HttpHistogram {
    /// The first known HTTP histogram the body has.
    pub fn detect(e: &Exposition) -> Option<HttpHistogram> {
        KNOWN_HTTP_HISTOGRAMS
            .iter()
            .find(|(name, _)| e.samples(&format!("{name}_count")).next().is_some())
            .map(|(name, label)| HttpHistogram {
                name: (*name).to_string(),
                status_label: (*label).to_string(),
            })
    }

    /// The configured histogram, else the first known one the body has.
    pub fn resolve(
        e: &Exposition,
        configured: Option<&crate::source::app::HttpSpec>,
    ) -> Option<Self> {
        match configured {
            Some(c) => Some(Self::named(e, &c.histogram, c.status_label.as_deref())),
            None => Self::detect(e),
        }
    }

    /// A configured histogram; without a status label, the first of [`STATUS_LABELS`] its
    /// `_count` series carry (none: errors unknown, latency still counted).
    pub fn named(e: &Exposition, name: &str, status_label: Option<&str>) -> HttpHistogram {
        let label = status_label.map(str::to_string).unwrap_or_else(|| {
            let count = format!("{name}_count");
            STATUS_LABELS
                .iter()
                .find(|l| e.samples(&count).any(|s| s.label(l).is_some()))
                .unwrap_or(&"code")
                .to_string()
        });
        HttpHistogram {
            name: name.to_string(),
            status_label: label,
        }
    }

    /// The histogram's counters now: every bucket and count series, and the 5xx count series.
    pub fn read(&self, e: &Exposition) -> HttpReading {
        let bucket = format!("{}_bucket", self.name);
        let count = format!("{}_count", self.name);
        let mut r = HttpReading::default();
        for s in e.samples(&bucket) {
            if let Some(le) = le_of(s) {
                r.buckets.insert(series_key(s), (le, s.value));
            }
        }
        for s in e.samples(&count) {
            let key = series_key(s);
            let status = s.label(&self.status_label);
            r.has_status |= status.is_some();
            if status.is_some_and(|c| c.starts_with('5')) {
                r.errors.insert(key.clone(), s.value);
            }
            r.count.insert(key, s.value);
        }
        r
    }
}

/// One reading of an HTTP histogram's counters, by series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpReading {
    /// Bucket series: (le, cumulative count).
    pub buckets: BTreeMap<String, (f64, f64)>,
    pub count: Series,
    /// `_count` series with a 5xx status.
    pub errors: Series,
    /// Whether any series has the status label (Prometheus 2.42's own histogram has only
    /// `handler`: its error ratio is unknown, not 0).
    pub has_status: bool,
}

impl HttpReading {
    /// The `_count` series without a 5xx status (PromQL's `{code!~"5.."}`: a series without the
    /// label counts as good).
    pub fn good(&self) -> Series {
        self.count
            .iter()
            .filter(|(k, _)| !self.errors.contains_key(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// Request signals between two readings `seconds` apart.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRates {
    pub requests_per_second: Option<f64>,
    /// 5xx / all; `None` without requests.
    pub error_ratio: Option<f64>,
    /// `None` without requests or without buckets.
    pub latency_p95_seconds: Option<f64>,
}

impl HttpRates {
    /// As `sum(rate(count))`, `sum(rate(5xx count)) / sum(rate(count))` and
    /// `histogram_quantile(0.95, sum by (le) (rate(bucket)))` over the two readings.
    pub fn between(prev: &HttpReading, cur: &HttpReading, seconds: f64) -> HttpRates {
        if seconds <= 0.0 || cur.count.is_empty() {
            return HttpRates::default();
        }
        let total = increase(&prev.count, &cur.count);
        let errors = increase(&prev.errors, &cur.errors);
        // Increase per bucket series (each its own counter), then summed by le.
        let mut by_le: Vec<(f64, f64)> = Vec::new();
        for (k, &(le, v)) in &cur.buckets {
            let d = match prev.buckets.get(k) {
                Some(&(_, p)) if v >= p => v - p,
                _ => v,
            };
            match by_le.iter_mut().find(|(l, _)| *l == le) {
                Some(x) => x.1 += d,
                None => by_le.push((le, d)),
            }
        }
        HttpRates {
            requests_per_second: Some(total / seconds),
            error_ratio: (total > 0.0 && cur.has_status).then(|| errors / total),
            latency_p95_seconds: histogram_quantile(0.95, &by_le),
        }
    }
}

/// The bucket a latency SLO counts as good: the one whose `le` equals the threshold, else the
/// largest below it (`exact` false). `None` when every bucket is above the threshold.
pub fn bucket_at(e: &Exposition, histogram: &str, threshold: f64) -> Option<(f64, bool)> {
    let bucket = format!("{histogram}_bucket");
    let best = e
        .samples(&bucket)
        .filter_map(le_of)
        .filter(|le| *le <= threshold)
        .reduce(f64::max)?;
    Some((best, best == threshold))
}

/// Default bucket bounds of the known histograms (Micrometer has none by default).
pub const DEFAULT_BUCKETS: [(&str, &[f64]); 2] = [
    (
        "OpenTelemetry http_server_request_duration_seconds",
        &[
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        ],
    ),
    (
        "prometheus_http_request_duration_seconds",
        &[0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0],
    ),
];

/// For `check-config`: the bucket a latency threshold would use with each known default bucket
/// layout (the app's real buckets decide at run time; `/api/v1/slos` shows the one used).
pub fn threshold_buckets(threshold: f64) -> String {
    DEFAULT_BUCKETS
        .iter()
        .map(|(name, bounds)| {
            let below = bounds
                .iter()
                .copied()
                .filter(|b| *b <= threshold)
                .reduce(f64::max);
            match below {
                Some(b) if b == threshold => format!("{name}: le=\"{}\" (exact)", le_text(b)),
                Some(b) => format!(
                    "{name}: le=\"{}\" (no {} bucket: the largest below)",
                    le_text(b),
                    le_text(threshold)
                ),
                None => format!("{name}: no bucket at or below {}", le_text(threshold)),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `le` value of a bucket written the way sidewatch shows it (`0.25`, `+Inf`).
pub fn le_text(le: f64) -> String {
    if le == f64::INFINITY {
        "+Inf".into()
    } else {
        le.to_string()
    }
}

#[cfg(test)]
mod tests;
