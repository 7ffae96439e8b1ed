//! sidewatch: a Prometheus exporter that runs beside one application, reads procfs for the
//! processes it watches on a timer, keeps restart-proof cumulative counters, and serves
//! `/metrics` from a body rendered once per tick.
//!
//! Data flow (one module a stage): `config` → `target` (discovery) → `source` (readers) →
//! `sampler` (accounting, snapshot) → `expose` (rendering) → `state` (published bodies) →
//! `server` (HTTP). Beside the rules, `history` keeps fixed-size rings per target (trends, leak
//! verdict) and `advisor` turns them into request and limit recommendations.

#![forbid(unsafe_code)]

pub mod advisor;
pub mod bounded;
pub mod catalog;
pub mod config;
pub mod encode;
pub mod expose;
pub mod histogram;
pub mod history;
pub mod lazy;
pub mod profiles;
pub mod promgen;
pub mod reference;
pub mod request;
pub mod rules;
pub mod runtime;
pub mod sample;
pub mod sampler;
pub mod server;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod status_page;
pub mod target;
pub mod units;
pub mod webconfig;
