//! Rules and SLOs: threshold rules evaluated every tick with the Prometheus alert state machine,
//! SLO good/total sample counters with error budgets and burn rates from a per-minute ring, and
//! the views of both (exposition families, JSON). `promgen` renders the same definitions as
//! Prometheus rules.
//!
//! The evaluator knows signals only through [`SignalSource`]; it knows nothing of procfs,
//! cgroupfs or HTTP.

pub mod alert;
pub mod engine;
pub mod signal;
pub mod slo;
pub mod snapshot;
pub mod spec;
pub mod template;
pub mod view;

pub use engine::RulesEngine;
pub use signal::{Signal, SignalSource, TargetSignals};
pub use snapshot::{ActiveAlert, BurnRate, RulesSnapshot, SloStatus};
pub use spec::{Op, RuleSet, Severity, Slo, SloKind, ThresholdRule};
