//! The independent truth for exposition parsing: Python's `prometheus_client` parsers (the
//! Debian package `python3-prometheus-client`), run on the same body.

use std::io::Write;
use std::process::{Command, Stdio};

/// One sample as a parser saw it: name, labels sorted by name, value.
pub type FlatSample = (String, Vec<(String, String)>, f64);

const SCRIPT: &str = r#"
import sys, json
body = sys.stdin.buffer.read().decode('utf-8')
if sys.argv[1] == 'om':
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
try:
    out = [[s.name, sorted(s.labels.items()), repr(float(s.value))]
           for f in text_string_to_metric_families(body) for s in f.samples]
except Exception as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
print(json.dumps({"samples": out}))
"#;

/// The samples Python's parser reads from `body` (`openmetrics`: its OpenMetrics parser, else
/// its text 0.0.4 parser), or `Err` with its message when it rejects the body.
pub fn python_samples(body: &[u8], openmetrics: bool) -> Result<Vec<FlatSample>, String> {
    let python = "/usr/bin/python3";
    assert!(
        std::path::Path::new(python).is_file(),
        "required tool /usr/bin/python3 is missing: apt-get install -y python3 python3-prometheus-client"
    );
    let mut child = Command::new(python)
        .args(["-c", SCRIPT, if openmetrics { "om" } else { "text" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "apt-get install -y python3-prometheus-client"
    );
    if !out.status.success() {
        // Not valid UTF-8, say: the parser never saw it.
        return Err(stderr.into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(e) = v.get("error") {
        return Err(e.to_string());
    }
    let samples = v["samples"].as_array().unwrap();
    Ok(samples
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| {
                    (
                        kv[0].as_str().unwrap().to_string(),
                        kv[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                s[0].as_str().unwrap().to_string(),
                labels,
                s[2].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect())
}

/// Our parser's samples in the same flat, sorted form.
pub fn our_samples(e: &sidewatch::source::exposition::Exposition) -> Vec<FlatSample> {
    let mut out: Vec<FlatSample> = e
        .families
        .values()
        .flat_map(|f| f.samples.iter())
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.sort();
            (s.name.clone(), labels, s.value)
        })
        .collect();
    sort(&mut out);
    out
}

pub fn sort(v: &mut [FlatSample]) {
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(a.2.total_cmp(&b.2)));
}

/// Equal as samples: same names, labels and values (NaN equals NaN).
pub fn same_samples(a: &[FlatSample], b: &[FlatSample]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0 && x.1 == y.1 && (x.2 == y.2 || (x.2.is_nan() && y.2.is_nan()))
        })
}
