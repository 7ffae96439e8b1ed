//! The app-metrics source in the tick: take the last fetch's result into the target's sample
//! (or count why there is none), then start the next fetch. Never waits.

use std::path::PathBuf;
use std::time::Duration;

use crate::sample::TargetSample;
use crate::source::app::AppPoller;
use crate::source::proc::{ReadError, ReadFailure, Source};

/// Fills `s.app*` from the result of the fetch that finished within `fresh_for`.
pub(super) fn take(
    poller: &AppPoller,
    fresh_for: Duration,
    s: &mut TargetSample,
    failures: &mut Vec<ReadFailure>,
) {
    let Some(fetched) = poller.take(fresh_for) else {
        // No fetch started yet (the daemon's first tick): nothing to say.
        return;
    };
    match fetched.result {
        Ok(exposition) => {
            s.app_up = Some(true);
            s.app_fetch_duration_seconds = Some(fetched.duration.as_secs_f64());
            s.app = Some(exposition);
            s.app_http = poller.spec().http.clone();
        }
        Err(e) => {
            s.app_up = Some(false);
            failures.push(ReadFailure {
                source: Source::AppMetrics,
                error: ReadError::Other {
                    path: PathBuf::from(poller.spec().metrics_url.to_string()),
                    reason: e.to_string(),
                },
            });
        }
    }
}
