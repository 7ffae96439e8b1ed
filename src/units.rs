//! Values with units as people write them in a config file, and the number formats the rest of
//! the house prints: sizes (`500MiB`, `1GB`, `1.5GiB`, plain bytes), ratios (`80%`, `0.8`),
//! counts (`1000`, `10k`), CPU cores (`1.5`, `500m`), durations (`5m`, `30d`), Prometheus
//! durations (`1h30m`), and Go's float formats (`%v`, `%.4g`) so that alert annotations rendered
//! in-process read exactly like the ones Prometheus renders.
//!
//! Parsers take text and return a value in base units (bytes, ratio 0–1, count, cores) or a
//! message that says what was expected, with examples.

use std::time::Duration;

/// Splits `"1.5GiB"` into `(1.5, "GiB")`; the number must be plain decimal (no sign, no
/// exponent), so `1e3` or `-5` are rejected rather than guessed.
fn split_number(s: &str) -> Option<(f64, &str)> {
    split_scaled(s, 0)
}

/// Like [`split_number`], with the number divided by 10^`shift` exactly (`99.9` with shift 2 is
/// the double nearest to 0.999, not `99.9 / 100`, which is off by one ulp).
fn split_scaled(s: &str, shift: u32) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let num: String = num.chars().filter(|c| *c != '_').collect();
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return None;
    }
    let v: f64 = format!("{num}e-{shift}").parse().ok()?;
    v.is_finite().then_some((v, unit.trim()))
}

/// A size in bytes: `524288000`, `500MiB`, `1.5GiB`, `1GB`, `512Ki`, `2Gi`, `100kB`.
/// Binary prefixes (`Ki`, `Mi`, `Gi`, `Ti`, with or without `B`) are powers of 1024, decimal
/// ones (`k`/`K`, `M`, `G`, `T`, with or without `B`) powers of 1000, as in Kubernetes.
pub fn parse_size(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a size; examples: 500MiB, 1.5GiB, 1GB, 524288000");
    let (v, unit) = split_number(s).ok_or_else(bad)?;
    let mult: f64 = match unit {
        "" | "B" => 1.0,
        "k" | "K" | "kB" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        "T" | "TB" => 1e12,
        "Ki" | "KiB" => 1024.0,
        "Mi" | "MiB" => 1024.0 * 1024.0,
        "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "Ti" | "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    Ok(v * mult)
}

/// A ratio: `80%` or `0.8`. A plain number above 1 is rejected (`80` probably means `80%`);
/// a percentage may exceed 100 % (`120%`).
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a ratio; examples: 80%, 0.8, 99.9%");
    let (v, unit) = split_number(s).ok_or_else(bad)?;
    match unit {
        "%" => split_scaled(s, 2).map(|(v, _)| v).ok_or_else(bad),
        "" if v <= 1.0 => Ok(v),
        "" => Err(format!(
            "{s:?} is not a ratio: a plain ratio is between 0 and 1; did you mean {s}%?"
        )),
        _ => Err(bad()),
    }
}

/// A count: `1000`, `10k`, `1.5M`, `10_000`. Suffixes are decimal (k = 1000, M = 10⁶, G = 10⁹).
pub fn parse_count(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a count; examples: 1000, 10k, 1.5M");
    let (v, unit) = split_number(s).ok_or_else(bad)?;
    let mult = match unit {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return Err(bad()),
    };
    Ok(v * mult)
}

/// CPU cores: `1.5`, `2`, or Kubernetes millicores `500m`.
pub fn parse_cores(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a number of CPU cores; examples: 1.5, 2, 500m");
    let (v, unit) = split_number(s).ok_or_else(bad)?;
    match unit {
        "" => Ok(v),
        "m" => split_scaled(s, 3).map(|(v, _)| v).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Seconds: a plain number (`0.25`) or a duration (`250ms`, `1s`).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match split_number(s) {
        Some((v, "")) => Ok(v),
        _ => parse_duration(s)
            .map(|d| d.as_secs_f64())
            .map_err(|_| format!("{s:?} is not a time in seconds; examples: 0.25, 250ms, 1s")),
    }
}

/// `5s`, `250ms`, `1m30s`, `30d`: humantime syntax.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); examples: 5s, 250ms, 1m, 30d"))
}

/// A duration as Prometheus writes it: `0s`, `500ms`, `5m`, `1h30m`, `30d`. Sub-millisecond
/// parts are dropped (Prometheus durations stop at milliseconds).
pub fn prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A number as PromQL literal: shortest round-trip decimal, never an exponent
/// (`524288000`, `0.8`, `0.0001`).
pub fn promql_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    format!("{v}")
}

// ---------------------------------------------------------------------------------------------
// Go's float formats, as Prometheus's alert templates print values.

/// Decimal digits and exponent of `v` (v > 0) rounded to `sig` significant digits, or the
/// shortest round-trip digits when `sig` is `None`: (digits without trailing zeros, exponent of
/// the first digit).
fn digits(v: f64, sig: Option<usize>) -> (String, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v),
        None => format!("{v:e}"),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    (d, exp)
}

/// Go's `%g` family: exponent form when `exp < -4 || exp >= eprec`, else plain decimal; no
/// trailing zeros either way.
fn go_g(v: f64, sig: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let (d, exp) = digits(v.abs(), sig);
    // Go uses precision 6 for this decision when the precision is "shortest".
    let eprec = sig.map_or(6, |p| p as i32);
    if exp < -4 || exp >= eprec {
        let (first, rest) = d.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    } else if exp < 0 {
        format!("{sign}0.{}{d}", "0".repeat((-exp - 1) as usize))
    } else {
        let int_len = exp as usize + 1;
        if d.len() <= int_len {
            format!("{sign}{d}{}", "0".repeat(int_len - d.len()))
        } else {
            format!("{sign}{}.{}", &d[..int_len], &d[int_len..])
        }
    }
}

/// Go's `%v` of a float64 (`fmt.Sprint`), as `{{ $value }}` prints: `5.24288e+08`, `0.8`.
pub fn go_float(v: f64) -> String {
    go_g(v, None)
}

/// Go's `%.4g`.
pub fn go_g4(v: f64) -> String {
    go_g(v, Some(4))
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits (`1.235k`, `12m`).
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g4(v))
}

/// Prometheus's `humanizeDuration`: `1d 2h 3m 4s` down to minutes, then 4 significant digits
/// of seconds with SI prefixes below one (`1.5s`, `250ms`).
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g4(v);
    }
    if v == 0.0 {
        return format!("{}s", go_g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let whole = v.abs() as u64;
        let (d, h, m, s) = (
            whole / 86_400,
            whole / 3600 % 24,
            whole / 60 % 60,
            whole % 60,
        );
        return match (d, h, m) {
            (0, 0, 0) => format!("{sign}{}s", go_g4(v.abs())),
            (0, 0, _) => format!("{sign}{m}m {s}s"),
            (0, _, _) => format!("{sign}{h}h {m}m {s}s"),
            _ => format!("{sign}{d}d {h}h {m}m {s}s"),
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g4(v))
}

/// Prometheus's `humanize1024`: binary prefixes, 4 significant digits (`500Mi`).
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g4(v))
}

/// A size for people: binary prefixes, 4 significant digits, a space and `B`:
/// `512 MiB`, `1.5 KiB`, `12 B`.
pub fn human_bytes(b: f64) -> String {
    let h = humanize1024(b).replacen("ki", "Ki", 1);
    match h.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) if !h[..i].ends_with('e') => format!("{} {}B", &h[..i], &h[i..]),
        _ => format!("{h} B"),
    }
}

/// A duration for people, its two largest units: `3h 12m`, `45s`, `1d`.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .take(2)
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Prometheus's `humanizePercentage`: `0.8` → `80%`.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", go_g4(v * 100.0))
}

/// `1512` → `1,512`.
pub fn thousands(v: f64) -> String {
    let n = v.round().abs() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// `YYYY-MM-DD` of a Unix day.
pub fn date_of_day(day: u32) -> String {
    rfc3339(f64::from(day) * 86_400.0)
        .chars()
        .take(10)
        .collect()
}

pub fn rfc3339(t: f64) -> String {
    match std::time::Duration::try_from_secs_f64(t) {
        Ok(d) => humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + d).to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(512.0 * 1024.0 * 1024.0), "512 MiB");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(12.0), "12 B");
        assert_eq!(human_bytes(0.0), "0 B");
        assert_eq!(human_bytes(-2048.0), "-2 KiB");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(3.0 * 3600.0 + 720.0), "3h 12m");
        assert_eq!(human_duration(45.0), "45s");
        assert_eq!(human_duration(0.0), "0s");
        assert_eq!(human_duration(86_400.0), "1d");
        assert_eq!(human_duration(86_340.0), "23h 59m");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500MiB").unwrap(), 524_288_000.0);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736.0);
        assert_eq!(parse_size("1GB").unwrap(), 1e9);
        assert_eq!(parse_size("2Gi").unwrap(), 2_147_483_648.0);
        assert_eq!(parse_size("100kB").unwrap(), 100_000.0);
        assert_eq!(parse_size("4096").unwrap(), 4096.0);
        assert_eq!(parse_size(" 10 MiB ").unwrap(), 10_485_760.0);
        assert_eq!(parse_size("1_000B").unwrap(), 1000.0);
        let e = parse_size("500XB").unwrap_err();
        assert_eq!(
            e,
            "\"500XB\" is not a size; examples: 500MiB, 1.5GiB, 1GB, 524288000"
        );
        for bad in ["", "MiB", "-5MiB", "1e3", "1..5GiB", ".5GiB", "5mb", "80%"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ratios() {
        assert_eq!(parse_ratio("80%").unwrap(), 0.8);
        assert_eq!(parse_ratio("0.8").unwrap(), 0.8);
        assert_eq!(parse_ratio("99.9%").unwrap(), 0.999);
        assert_eq!(parse_ratio("120%").unwrap(), 1.2);
        assert_eq!(parse_ratio("1").unwrap(), 1.0);
        let e = parse_ratio("80").unwrap_err();
        assert!(e.contains("did you mean 80%?"), "{e}");
        assert!(parse_ratio("80 percent").is_err());
        assert!(parse_ratio("500MiB").is_err());
    }

    #[test]
    fn counts_and_cores() {
        assert_eq!(parse_count("1000").unwrap(), 1000.0);
        assert_eq!(parse_count("10k").unwrap(), 10_000.0);
        assert_eq!(parse_count("1.5M").unwrap(), 1_500_000.0);
        assert_eq!(parse_count("10_000").unwrap(), 10_000.0);
        assert!(parse_count("10Ki").is_err());
        assert_eq!(parse_cores("1.5").unwrap(), 1.5);
        assert_eq!(parse_cores("500m").unwrap(), 0.5);
        assert!(parse_cores("2 cores").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").unwrap_err().contains("examples"));
        assert_eq!(prom_duration(Duration::ZERO), "0s");
        assert_eq!(prom_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(prom_duration(Duration::from_secs(30 * 86400)), "30d");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn promql_numbers() {
        assert_eq!(promql_number(524_288_000.0), "524288000");
        assert_eq!(promql_number(0.8), "0.8");
        assert_eq!(promql_number(0.0001), "0.0001");
        assert_eq!(promql_number(1e21), "1000000000000000000000");
    }

    #[test]
    fn go_formats_match_go() {
        // Expected strings are what Go's fmt prints for the same float64.
        assert_eq!(go_float(524_288_000.0), "5.24288e+08");
        assert_eq!(go_float(123_456.0), "123456");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(0.8), "0.8");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_g4(12345.0), "1.234e+04");
        assert_eq!(go_g4(1023.96), "1024");
        assert_eq!(go_g4(500.0), "500");
        assert_eq!(go_g4(0.123456), "0.1235");
        assert_eq!(humanize1024(524_288_000.0), "500Mi");
        assert_eq!(humanize1024(1_610_612_736.0), "1.5Gi");
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(0.012), "12m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize_percentage(0.8), "80%");
        assert_eq!(humanize_percentage(0.12345), "12.35%");
    }
}
