//! The published index of every target's profiles: `/api/v1/profiles` (the list, with the
//! evidence) and `/api/v1/profiles/<target>/<file>` (the file). A requested name is only looked
//! up in the index: a path with `..`, `/` or anything not listed never reaches the filesystem.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use super::store::Entry;
use crate::snapshot::Snapshot;

/// Where the routes live.
pub const PREFIX: &str = "/api/v1/profiles";

/// The profiles of one tick, by target.
#[derive(Debug, Default)]
pub struct ProfileIndex {
    targets: Vec<(String, PathBuf, Arc<Vec<Entry>>)>,
    list: Bytes,
}

/// The index of the targets with `profiles:`; `None` when none has.
pub fn index(s: &Snapshot) -> Option<Arc<ProfileIndex>> {
    let targets: Vec<_> = s
        .targets
        .iter()
        .filter_map(|t| {
            let p = t.profiles.as_ref()?;
            Some((t.name.clone(), p.dir.clone(), p.entries.clone()))
        })
        .collect();
    if targets.is_empty() {
        return None;
    }
    let data: Vec<_> = targets
        .iter()
        .flat_map(|(_, _, entries)| entries.iter().rev())
        .map(|e| {
            json!({
                "target": e.target,
                "kind": e.kind,
                "trigger": e.trigger,
                "time": crate::advisor::rfc3339(e.time_seconds),
                "timeSeconds": e.time_seconds,
                "sizeBytes": e.size_bytes,
                "evidence": e.evidence,
                "base": e.base,
                "file": e.file,
                "url": url(e),
            })
        })
        .collect();
    let list = json!({ "status": "success", "data": data });
    Some(Arc::new(ProfileIndex {
        list: Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
        targets,
    }))
}

/// The download path of a profile.
pub fn url(e: &Entry) -> String {
    format!("{PREFIX}/{}/{}", e.target, e.file)
}

/// A response of the profile routes: status, content type, body.
pub type Answer = (StatusCode, &'static str, Bytes);

/// Answers `path` (under [`PREFIX`]) from the published index.
pub fn answer(path: &str, index: Option<&ProfileIndex>) -> Answer {
    let text = |s: StatusCode, m: String| (s, "text/plain; charset=utf-8", Bytes::from(m));
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return text(StatusCode::NOT_FOUND, "not found\n".into());
    };
    let Some(index) = index else {
        return text(
            StatusCode::NOT_FOUND,
            "not found: no target has profiles:\n".into(),
        );
    };
    if rest.is_empty() || rest == "/" {
        return (StatusCode::OK, "application/json", index.list.clone());
    }
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let [target, file] = parts[..] else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("bad profile path: give {PREFIX}/<target>/<file> as listed by {PREFIX}\n"),
        );
    };
    if [target, file]
        .iter()
        .any(|p| p.is_empty() || p.starts_with('.') || p.contains('%') || p.contains('\\'))
    {
        return text(
            StatusCode::BAD_REQUEST,
            "bad profile path: a name must not be empty, start with a dot or hold % or \\\n".into(),
        );
    }
    let found = index
        .targets
        .iter()
        .find(|(t, _, _)| t == target)
        .and_then(|(_, dir, es)| {
            es.iter()
                .find(|e| e.file == file)
                .map(|e| dir.join(&e.file))
        });
    let Some(path) = found else {
        return text(
            StatusCode::NOT_FOUND,
            format!("not found: no profile {file:?} of target {target:?}; see {PREFIX}\n"),
        );
    };
    match std::fs::read(&path) {
        Ok(body) => (
            StatusCode::OK,
            "application/octet-stream",
            Bytes::from(body),
        ),
        // Removed by the budget since the last tick published the index.
        Err(e) => text(StatusCode::NOT_FOUND, format!("not found: {file}: {e}\n")),
    }
}
