//! One target's profile directory: each capture is written atomically (a temporary file, then a
//! rename) beside a small JSON file that says what triggered it; a count and byte budget keeps
//! the directory bounded, oldest out first. The index in memory is what is listed and served,
//! so a name from a request is only ever compared with it, never joined to a path.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Suffix of a profile file (gzipped pprof protobuf, as Go serves it).
const PROFILE_SUFFIX: &str = ".pb.gz";
/// Suffix of the file that describes a profile.
const META_SUFFIX: &str = ".json";
/// Prefix of files being written (removed at start: a capture cut by a crash).
const TMP_PREFIX: &str = ".tmp-";

/// One stored profile, as listed by `/api/v1/profiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub target: String,
    pub kind: String,
    pub trigger: String,
    /// File name inside the target's directory.
    pub file: String,
    /// Unix seconds when the capture finished.
    pub time_seconds: f64,
    pub size_bytes: u64,
    /// Why it was captured: one sentence per condition that held.
    pub evidence: Vec<String>,
    /// For the second heap capture of a leak: the first one (`go tool pprof -base`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// Limits of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_files: usize,
    pub max_bytes: u64,
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    budget: Budget,
    entries: Vec<Entry>,
}

impl Store {
    /// Opens (creating) `dir`, drops what a crash left half-written and indexes the profiles
    /// found there, so a restarted daemon still lists them and counts them in the budget.
    pub fn open(dir: PathBuf, budget: Budget) -> std::io::Result<Store> {
        std::fs::create_dir_all(&dir)?;
        let mut entries = Vec::new();
        for f in std::fs::read_dir(&dir)?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(f.path());
            } else if let Some(profile) = name.strip_suffix(META_SUFFIX) {
                let meta = std::fs::read(f.path()).ok();
                let entry = meta.and_then(|m| serde_json::from_slice::<Entry>(&m).ok());
                match entry {
                    Some(e) if e.file == profile && dir.join(profile).is_file() => entries.push(e),
                    _ => {
                        tracing::warn!(file = %f.path().display(), "unreadable profile description; ignored")
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.time_seconds.total_cmp(&b.time_seconds));
        let mut store = Store {
            dir,
            budget,
            entries,
        };
        store.enforce();
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
        self.enforce();
    }

    /// Indexes a profile [`write`] stored in this directory, then applies the budget.
    pub fn insert(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.enforce();
    }

    /// Removes the oldest profiles until the count and the bytes are within the budget.
    fn enforce(&mut self) {
        let mut bytes: u64 = self.entries.iter().map(|e| e.size_bytes).sum();
        while !self.entries.is_empty()
            && (self.entries.len() > self.budget.max_files || bytes > self.budget.max_bytes)
        {
            let old = self.entries.remove(0);
            bytes = bytes.saturating_sub(old.size_bytes);
            for name in [old.file.clone(), format!("{}{META_SUFFIX}", old.file)] {
                if let Err(e) = std::fs::remove_file(self.dir.join(&name)) {
                    tracing::warn!(file = %name, error = %e, "cannot remove an old profile");
                }
            }
        }
    }
}

/// A profile's file name: kind, trigger and the capture time in Unix milliseconds.
pub fn file_name(kind: &str, trigger: &str, unix_ms: u128) -> String {
    format!("{kind}-{trigger}-{unix_ms}{PROFILE_SUFFIX}")
}

/// Writes `body` as `entry.file` in `dir` (atomically), then its description. Done without the
/// store's lock (the tick reads the index under it): only [`Store::insert`] needs that.
pub fn write(dir: &Path, entry: &Entry, body: &[u8]) -> std::io::Result<()> {
    write_atomic(dir, &entry.file, body)?;
    let meta = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
    if let Err(e) = write_atomic(dir, &format!("{}{META_SUFFIX}", entry.file), &meta) {
        let _ = std::fs::remove_file(dir.join(&entry.file));
        return Err(e);
    }
    Ok(())
}

fn write_atomic(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, t: f64, size: u64) -> Entry {
        Entry {
            target: "app".into(),
            kind: "heap".into(),
            trigger: "alert".into(),
            file: file.into(),
            time_seconds: t,
            size_bytes: size,
            evidence: vec!["why".into()],
            base: None,
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn add(s: &mut Store, e: Entry, body: &[u8]) {
        write(s.dir(), &e, body).unwrap();
        s.insert(e);
    }

    #[test]
    fn budget_removes_the_oldest_by_count_and_by_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let budget = Budget {
            max_files: 2,
            max_bytes: 25,
        };
        let mut s = Store::open(tmp.path().join("app"), budget).unwrap();
        for (i, name) in ["a.pb.gz", "b.pb.gz", "c.pb.gz"].iter().enumerate() {
            add(&mut s, entry(name, i as f64, 10), &[b'x'; 10]);
        }
        assert_eq!(
            files(s.dir()),
            ["b.pb.gz", "b.pb.gz.json", "c.pb.gz", "c.pb.gz.json"]
        );
        // 10 + 20 bytes is over 25: b goes.
        add(&mut s, entry("d.pb.gz", 3.0, 20), &[b'y'; 20]);
        assert_eq!(files(s.dir()), ["d.pb.gz", "d.pb.gz.json"]);
        // A restart indexes what is there and drops a half-written file.
        std::fs::write(s.dir().join(".tmp-e.pb.gz"), b"cut").unwrap();
        let again = Store::open(s.dir().to_path_buf(), budget).unwrap();
        assert_eq!(again.entries(), s.entries());
        assert_eq!(files(again.dir()), ["d.pb.gz", "d.pb.gz.json"]);
    }
}
