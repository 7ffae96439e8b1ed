//! The application's own metrics as sidewatch reads them: an exposition body (Prometheus text
//! 0.0.4 or OpenMetrics) parsed into typed families and samples. This is what the app-metrics
//! source hands the tick; runtime figures and request SLIs are computed from it.

mod model;
mod parse;

pub use model::{Exposition, Family, MetricType, Sample};
pub use parse::{Format, ParseError, parse};
