//! A small parser of the two text exposition formats (Prometheus text 0.0.4 and OpenMetrics
//! 1.0) into [`Exposition`]. Timestamps and exemplars are read past and dropped: the tick
//! stamps what it reads.
//!
//! Why our own: the crates on offer were tried on the bodies sidewatch must read (see
//! README, "Application metrics"). `prometheus-parse` 0.2 loses a whole label set when a value
//! holds an escaped quote, keeps `\n` escaped, ignores `# TYPE counter`, and accepts `x{` and
//! `x 1 2 3 4` as valid; its open fix for `=` in label values has waited since 2024.
//! `openmetrics-parser` 0.4 is LGPL-3.0 (sidewatch ships one static Apache-2.0 binary), refuses
//! the OpenMetrics body of Python's `prometheus_client` 0.16 (a summary without quantiles:
//! "Missing mandatory label for metric: quantile"), and its text 0.0.4 parser refuses valid
//! bodies (untyped samples of different names in a row; `h_created` under `# TYPE h histogram`).
//! Both formats are line-based and small; this parser is about 350 lines, fuzzed in
//! tests/fuzz.rs and checked against Python's `prometheus_client` parsers on bodies captured
//! from real applications.

use super::model::{Exposition, Family, MetricType, Sample};

/// Which text format a body is in, chosen from the response's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`, or no content type).
    Text004,
    /// OpenMetrics 1.0 (`application/openmetrics-text`): must end with `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header value announces; text 0.0.4 unless it says
    /// OpenMetrics (as Prometheus itself falls back to the text format).
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text004
        }
    }
}

/// Why a body could not be read: the 1-based line and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

/// Parses a whole body. Any malformed line makes the whole body an error (as Prometheus fails
/// the whole scrape): a half-read body would give half the figures, which is worse than none.
pub fn parse(body: &str, format: Format) -> Result<Exposition, ParseError> {
    let mut p = Parser {
        format,
        out: Exposition::default(),
        current: None,
    };
    let mut eof_at = None;
    let lines = body.split('\n').count();
    for (i, raw) in body.split('\n').enumerate() {
        let line = i + 1;
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(at) = eof_at {
            // Only the newline that ends `# EOF` may follow it.
            if !(text.is_empty() && line == lines) {
                return Err(err(line, format!("text after # EOF on line {at}")));
            }
            continue;
        }
        let res = if format == Format::OpenMetrics && text == "# EOF" {
            eof_at = Some(line);
            Ok(())
        } else {
            p.line(text)
        };
        res.map_err(|reason| err(line, reason))?;
    }
    if format == Format::OpenMetrics && eof_at.is_none() {
        return Err(err(lines, "no # EOF: the body is truncated".into()));
    }
    Ok(p.out)
}

fn err(line: usize, reason: String) -> ParseError {
    ParseError { line, reason }
}

struct Parser {
    format: Format,
    out: Exposition,
    /// The family of the last `# TYPE` line: its name and type.
    current: Option<(String, MetricType)>,
}

impl Parser {
    fn line(&mut self, text: &str) -> Result<(), String> {
        // Text 0.0.4 ignores leading blanks (Go's expfmt); OpenMetrics does not allow them.
        let text = match self.format {
            Format::Text004 => text.trim_start_matches([' ', '\t']),
            Format::OpenMetrics => text,
        };
        if let Some(comment) = text.strip_prefix('#') {
            return self.comment(comment);
        }
        if text.trim().is_empty() {
            return Ok(());
        }
        let sample = sample(text, self.format)?;
        // The current `# TYPE` family when the sample's name is that family's name with one of
        // the suffixes its type allows, else the family named like the sample.
        let family: &str = match &self.current {
            Some((name, kind)) if belongs(&sample.name, name, *kind, self.format) => name,
            _ => &sample.name,
        };
        match self.out.families.get_mut(family) {
            Some(f) => f.samples.push(sample),
            None => {
                let name = family.to_string();
                let kind = match &self.current {
                    Some((current, kind)) if *current == name => *kind,
                    _ => MetricType::Unknown,
                };
                let samples = vec![sample];
                self.out.families.insert(
                    name.clone(),
                    Family {
                        name,
                        kind,
                        samples,
                    },
                );
            }
        }
        Ok(())
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let mut words = comment
            .trim_start_matches([' ', '\t'])
            .splitn(3, [' ', '\t']);
        let keyword = words.next().unwrap_or("");
        if !matches!(keyword, "TYPE" | "HELP" | "UNIT") {
            return Ok(()); // a free comment
        }
        let name = words.next().unwrap_or("");
        if !is_metric_name(name) {
            // Prometheus refuses the body too.
            return Err(format!("# {keyword}: bad metric name {name:?}"));
        }
        if keyword != "TYPE" {
            return Ok(()); // HELP and UNIT carry nothing the tick uses
        }
        let word = words.next().unwrap_or("").trim();
        let kind = metric_type(word, self.format)
            .ok_or_else(|| format!("# TYPE {name}: unknown type {word:?}"))?;
        let family = self
            .out
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                name: name.to_string(),
                kind,
                samples: Vec::new(),
            });
        family.kind = kind;
        self.current = Some((name.to_string(), kind));
        Ok(())
    }
}

fn belongs(sample: &str, family: &str, kind: MetricType, format: Format) -> bool {
    sample
        .strip_prefix(family)
        .is_some_and(|rest| suffixes(kind, format).contains(&rest))
}

fn metric_type(word: &str, format: Format) -> Option<MetricType> {
    Some(match (word, format) {
        ("counter", _) => MetricType::Counter,
        ("gauge", _) => MetricType::Gauge,
        ("histogram", _) => MetricType::Histogram,
        ("summary", _) => MetricType::Summary,
        ("untyped", Format::Text004) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
        ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
        ("info", Format::OpenMetrics) => MetricType::Info,
        ("stateset", Format::OpenMetrics) => MetricType::StateSet,
        _ => return None,
    })
}

/// The sample-name suffixes a family of `kind` may have (the empty one is the family's name).
fn suffixes(kind: MetricType, format: Format) -> &'static [&'static str] {
    match (kind, format) {
        (MetricType::Histogram, Format::Text004) => &["_bucket", "_sum", "_count"],
        (MetricType::Summary, Format::Text004) => &["", "_sum", "_count"],
        (_, Format::Text004) => &[""],
        (MetricType::Counter, Format::OpenMetrics) => &["_total", "_created"],
        (MetricType::Histogram, Format::OpenMetrics) => &["_bucket", "_sum", "_count", "_created"],
        (MetricType::GaugeHistogram, Format::OpenMetrics) => &["_bucket", "_gsum", "_gcount"],
        (MetricType::Summary, Format::OpenMetrics) => &["", "_sum", "_count", "_created"],
        (MetricType::Info, Format::OpenMetrics) => &["_info"],
        (_, Format::OpenMetrics) => &[""],
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
fn sample(text: &str, format: Format) -> Result<Sample, String> {
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &text[name_end..];
    let mut labels = Vec::new();
    // Text 0.0.4 reads `x{a="b"}1`; OpenMetrics wants the space.
    let mut need_space = true;
    if let Some(after) = rest.strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
        need_space = format == Format::OpenMetrics;
    }
    let (value, rest) = value_and_rest(rest, need_space)?;
    check_tail(rest, format)?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads `l="v",...}` into `labels`; returns what follows the closing brace.
fn label_set<'a>(mut s: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = s[..eq].trim_end_matches([' ', '\t']);
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name} repeated"));
        }
        let after_eq = s[eq + 1..].trim_start_matches([' ', '\t']);
        let quoted = after_eq
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: value not quoted"))?;
        let (value, after) = label_value(quoted).map_err(|e| format!("label {name}: {e}"))?;
        labels.push((name.to_string(), value));
        s = after.trim_start_matches([' ', '\t']);
        if let Some(after_comma) = s.strip_prefix(',') {
            s = after_comma;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

/// An escaped label value up to its closing quote; returns it and what follows the quote.
fn label_value(s: &str) -> Result<(String, &str), String> {
    // Most values have no escape: copy them in one piece.
    if let Some(end) = s.find(['"', '\\']).filter(|&i| s.as_bytes()[i] == b'"') {
        return Ok((s[..end].to_string(), &s[end + 1..]));
    }
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                // Prometheus's own scraper keeps other escapes as written.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("unterminated value".into()),
            },
            c => out.push(c),
        }
    }
    Err("unterminated value".into())
}

/// The value after the name or label set, and the text after it.
fn value_and_rest(s: &str, need_space: bool) -> Result<(f64, &str), String> {
    let trimmed = s.trim_start_matches([' ', '\t']);
    if need_space && trimmed.len() == s.len() {
        return Err("no space before the value".into());
    }
    let end = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
    let word = &trimmed[..end];
    Ok((
        number(word).ok_or_else(|| format!("bad value {word:?}"))?,
        &trimmed[end..],
    ))
}

/// A float as Go's `strconv.ParseFloat` reads it, which is what Prometheus uses for both
/// formats: decimal and exponent forms, `NaN`, `+Inf`, `-Inf`, and (case-insensitively) `inf`,
/// `infinity`, `nan`, which Rust's `f64` parser reads alike.
fn number(word: &str) -> Option<f64> {
    let ok_chars = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
    if word.is_empty() || !ok_chars {
        return None;
    }
    word.parse().ok()
}

/// After the value: an optional timestamp, then (OpenMetrics) an optional exemplar.
fn check_tail(rest: &str, format: Format) -> Result<(), String> {
    let rest = rest.trim_start_matches([' ', '\t']);
    let (ts, after) = match rest.find([' ', '\t']) {
        Some(i) => (&rest[..i], rest[i..].trim_start_matches([' ', '\t'])),
        None => (rest, ""),
    };
    let (ts, after) = if ts == "#" { ("", rest) } else { (ts, after) };
    if !ts.is_empty() && number(ts).is_none_or(|t| !t.is_finite()) {
        return Err(format!("bad timestamp {ts:?}"));
    }
    if after.is_empty() {
        return Ok(());
    }
    match (format, after.strip_prefix('#')) {
        (Format::OpenMetrics, Some(exemplar)) => check_exemplar(exemplar),
        _ => Err(format!("unexpected text {after:?} after the value")),
    }
}

/// An exemplar ` {labels} value [timestamp]`: checked, then dropped.
fn check_exemplar(s: &str) -> Result<(), String> {
    let s = s.trim_start_matches([' ', '\t']);
    let labels_body = s.strip_prefix('{').ok_or("exemplar without labels")?;
    let mut labels = Vec::new();
    let rest = label_set(labels_body, &mut labels).map_err(|e| format!("exemplar: {e}"))?;
    let (_, rest) = value_and_rest(rest, true).map_err(|e| format!("exemplar: {e}"))?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if !rest.is_empty() && number(rest).is_none() {
        return Err(format!("exemplar: bad timestamp {rest:?}"));
    }
    Ok(())
}
