//! Annotation templates: the small subset of Prometheus's Go templates that the daemon renders
//! itself, so one annotation text means the same in `/api/v1/alerts` and in Prometheus.
//!
//! Supported actions: `{{ $value }}`, `{{ $labels.NAME }}`, each optionally piped into
//! `humanize`, `humanize1024`, `humanizePercentage` or `humanizeDuration`. Anything else between `{{ }}` is
//! rejected when the config is loaded.

use crate::units;

/// One `{{ ... }}` action.
#[derive(Debug, PartialEq)]
enum Action<'t> {
    Value(Option<&'t str>),
    Label(&'t str, Option<&'t str>),
}

const FUNCS: [&str; 4] = [
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
];

fn parse_action(inner: &str) -> Option<Action<'_>> {
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    let (arg, func) = match inner.split_once('|') {
        Some((a, f)) => {
            let f = f.trim();
            (a.trim(), Some(FUNCS.iter().copied().find(|x| *x == f)?))
        }
        None => (inner.trim(), None),
    };
    if arg == "$value" {
        return Some(Action::Value(func));
    }
    let name = arg.strip_prefix("$labels.")?;
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(Action::Label(name, func))
}

/// Splits a template into literal text and actions; an unsupported action is an error.
fn pieces(text: &str) -> Result<Vec<Result<&str, Action<'_>>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (lit, after) = rest.split_at(open);
        if lit.contains("}}") {
            return Err("unbalanced `}}` in template".into());
        }
        out.push(Ok(lit));
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed template action {after:?}"))?;
        let action = parse_action(&after[2..close]).ok_or_else(|| {
            format!(
                "unsupported template {:?}; supported: {{{{ $value }}}}, {{{{ $labels.target }}}} (any label), optionally piped into humanize, humanize1024, humanizePercentage or humanizeDuration",
                &after[..close + 2]
            )
        })?;
        out.push(Err(action));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("unbalanced `}}` in template".into());
    }
    out.push(Ok(rest));
    Ok(out)
}

/// Checks that every `{{ ... }}` in `text` is a supported action.
pub fn validate(text: &str) -> Result<(), String> {
    pieces(text).map(|_| ())
}

/// Renders a validated template: `labels` are the alert's series labels (target and the
/// target's constant labels); a missing label renders empty, as in Prometheus. An invalid
/// template (never accepted by the config) renders as written.
pub fn render(text: &str, labels: &[(&str, &str)], value: f64) -> String {
    let Ok(pieces) = pieces(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 16);
    for p in pieces {
        match p {
            Ok(lit) => out.push_str(lit),
            Err(Action::Value(None)) => out.push_str(&units::go_float(value)),
            Err(Action::Value(Some(f))) => out.push_str(&format_with(f, value)),
            Err(Action::Label(name, func)) => {
                let raw = labels
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map_or("", |(_, v)| *v);
                // A pipe on a label value formats it as a number when it is one.
                match (func, raw.parse::<f64>()) {
                    (Some(f), Ok(n)) => out.push_str(&format_with(f, n)),
                    _ => out.push_str(raw),
                }
            }
        }
    }
    out
}

fn format_with(func: &str, v: f64) -> String {
    match func {
        "humanize1024" => units::humanize1024(v),
        "humanizePercentage" => units::humanize_percentage(v),
        "humanizeDuration" => units::humanize_duration(v),
        _ => units::humanize(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_value_and_labels_like_prometheus() {
        let labels = [("target", "api"), ("pod", "web-0")];
        assert_eq!(
            render(
                "{{ $labels.target }} ({{$labels.pod}}) uses {{ $value | humanize1024 }}B",
                &labels,
                524_288_000.0
            ),
            "api (web-0) uses 500MiB"
        );
        assert_eq!(
            render("v={{ $value }}", &labels, 524_288_000.0),
            "v=5.24288e+08"
        );
        assert_eq!(
            render("{{ $value | humanizePercentage }}", &labels, 0.8),
            "80%"
        );
        assert_eq!(
            render("{{ $value | humanize }}", &labels, 12_345.0),
            "12.35k"
        );
        assert_eq!(render("[{{ $labels.nope }}]", &labels, 1.0), "[]");
        assert_eq!(render("no actions", &labels, 1.0), "no actions");
    }

    #[test]
    fn rejects_what_it_cannot_render() {
        assert!(validate("{{ $labels.target }} {{ $value | humanize }}").is_ok());
        let e = validate("{{ $value | printf \"%.2f\" }}").unwrap_err();
        assert!(e.contains("unsupported template"), "{e}");
        assert!(validate("{{ .Labels.target }}").is_err());
        assert!(validate("{{ $value").is_err());
        assert!(validate("a }} b").is_err());
    }
}
