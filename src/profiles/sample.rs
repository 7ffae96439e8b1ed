//! What a tick publishes about a target's profiles, and the two labels its counters carry.

use std::path::PathBuf;
use std::sync::Arc;

use super::store::Entry;

/// What a capture fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Heap,
    Goroutine,
    Cpu,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Heap => "heap",
            Kind::Goroutine => "goroutine",
            Kind::Cpu => "cpu",
        }
    }
}

/// Why a capture ran: the `trigger` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    Alert,
    Leak,
    Goroutines,
    Heap,
    Cpu,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Alert => "alert",
            Trigger::Leak => "leak",
            Trigger::Goroutines => "goroutines",
            Trigger::Heap => "heap",
            Trigger::Cpu => "cpu",
        }
    }
}

/// A tick's view of a target's profiles: counters, and the index of stored files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilesSample {
    /// Captures stored, by kind and trigger (every configured combination, zeros included).
    pub captured: Vec<(Kind, Trigger, u64)>,
    /// Captures that failed (fetch, status, not a gzipped profile, or the write).
    pub errors: u64,
    pub in_flight: bool,
    pub dir: PathBuf,
    pub entries: Arc<Vec<Entry>>,
}
