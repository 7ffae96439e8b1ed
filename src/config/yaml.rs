//! The YAML layer every config file shares (the main config, the web config, the built-in
//! rule defaults): errors that name the file, line, field and reason, and the field parsers
//! (durations, regular expressions) the typed configs deserialize with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_lite::Regex;
use serde::{Deserialize, Deserializer};

/// A configuration error, precise enough to fix without reading the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub field: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: Option<&Path>, field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.map(Path::to_path_buf),
            field: field.into(),
            line: None,
            column: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "config file {}", file.display())?,
            None => write!(f, "command line")?,
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
            if let Some(col) = self.column {
                write!(f, " column {col}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ", field `{}`", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
        .transpose()
}

pub(crate) fn de_opt_regex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_regex(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// `5s`, `250ms`, `1m30s`: humantime syntax.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); examples: 5s, 250ms, 1m"))
}

pub fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| format!("invalid regular expression {s:?}: {e}"))
}

static RUST_TYPE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    // A literal pattern known to be valid: compiling it cannot fail.
    Regex::new(r"\bstruct [A-Z][A-Za-z]*").expect("valid regex")
});

/// Deserializes YAML text into `T`, with errors that name the file, line, field and reason.
/// Shared by the main config and the web config.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: Option<&Path>,
) -> Result<T, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let loc = inner.location();
        let mut reason = inner.to_string();
        // serde_yaml_ng appends " at line L column C"; we report the location separately.
        if let Some(i) = reason.find(" at line ") {
            reason.truncate(i);
        }
        // ... and prefixes the path of the enclosing node ("targets[0]: "); we report the field.
        if let Some((prefix, rest)) = reason.split_once(": ") {
            if !prefix.contains(' ') && field.starts_with(prefix) {
                reason = rest.to_string();
            }
        }
        // serde names the Rust type it expected ("expected struct FileConfig"); say what to write.
        let mut reason = RUST_TYPE
            .replace_all(&reason, "a mapping (key: value lines)")
            .into_owned();
        // An entry validated as a whole (a rule) names its faulty field as ".value: reason".
        let mut field = field;
        if let Some((sub, rest)) = reason
            .strip_prefix('.')
            .and_then(|r| r.split_once(": "))
            .map(|(s, r)| (s.to_string(), r.to_string()))
        {
            if !sub.contains(' ') {
                field = format!("{field}.{sub}");
                reason = rest;
            }
        }
        ConfigError {
            file: file.map(Path::to_path_buf),
            field: if field == "." { String::new() } else { field },
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            reason,
        }
    })
}
