//! Metric families and rendering. One set of definitions, rendered once per tick by
//! `prometheus-client` as OpenMetrics 1.0.0 text; the Prometheus text format 0.0.4 body is
//! derived from that by [`openmetrics_to_text`] (family names of counters gain `_total`, `info`
//! becomes `gauge`, `# UNIT` and `# EOF` are dropped), so both formats always carry the same
//! samples. Each body is gzipped by the first request of the tick that asks for it: Prometheus
//! scrapes every 15–60 s and sidewatch ticks every second or so, so most ticks have no gzip
//! request at all.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::catalog;
use crate::encode::{Family, Num, per_bucket, plain, push_opt, target_labels, with};
use crate::lazy::Lazy;
use crate::snapshot::Snapshot;
use crate::state::Published;

mod app;
mod cgroup;
mod net;
mod probe;
mod profiles;
mod runtime;

/// Encodes one snapshot. Families appear in a fixed order; within a family, targets appear in
/// config order.
#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &*self.0;
        let mut up = Family::of(&catalog::TARGET_UP);
        let mut procs = Family::of(&catalog::TARGET_PROCESSES);
        let mut info = Family::of(&catalog::TARGET);
        let mut cpu = Family::of(&catalog::PROCESS_CPU);
        let mut rss = Family::of(&catalog::PROCESS_RESIDENT_MEMORY);
        let mut vms = Family::of(&catalog::PROCESS_VIRTUAL_MEMORY);
        let mut swap = Family::of(&catalog::PROCESS_SWAP);
        let mut pss = Family::of(&catalog::PROCESS_PROPORTIONAL_MEMORY);
        let mut threads = Family::of(&catalog::PROCESS_THREADS);
        let mut fds = Family::of(&catalog::PROCESS_OPEN_FDS);
        let mut fdu = Family::of(&catalog::PROCESS_FD_UTILIZATION_RATIO);
        let mut ior = Family::of(&catalog::PROCESS_IO_READ);
        let mut iow = Family::of(&catalog::PROCESS_IO_WRITE);
        let mut cs = Family::of(&catalog::PROCESS_CONTEXT_SWITCHES);
        let mut pf = Family::of(&catalog::PROCESS_PAGE_FAULTS);
        let mut wait = Family::of(&catalog::PROCESS_CPU_WAIT);
        let mut start = Family::of(&catalog::PROCESS_START_TIME);
        let mut restarts = Family::of(&catalog::PROCESS_RESTARTS);

        for t in &s.targets {
            let l = target_labels(t);
            up.push(l.clone(), Num::U(u64::from(t.up)));
            procs.push(l.clone(), Num::U(t.processes));
            if let (Some(pid), Some(comm)) = (t.primary_pid, t.primary_comm.as_deref()) {
                info.push(
                    with(&with(&l, "pid", pid.to_string()), "comm", comm),
                    Num::U(1),
                );
            }
            let c = &t.counters;
            if let Some(v) = c.cpu_user_seconds_total {
                cpu.push(with(&l, "mode", "user"), Num::F(v));
            }
            if let Some(v) = c.cpu_system_seconds_total {
                cpu.push(with(&l, "mode", "system"), Num::F(v));
            }
            push_opt(&mut rss, &l, t.resident_memory_bytes);
            push_opt(&mut vms, &l, t.virtual_memory_bytes);
            push_opt(&mut swap, &l, t.swap_bytes);
            push_opt(&mut pss, &l, t.proportional_memory_bytes);
            push_opt(&mut threads, &l, t.threads);
            push_opt(&mut fds, &l, t.open_fds);
            if let Some(r) = t.fd_utilization_ratio {
                fdu.push(l.clone(), Num::F(r));
            }
            push_opt(&mut ior, &l, c.io_read_bytes_total);
            push_opt(&mut iow, &l, c.io_write_bytes_total);
            if let Some(v) = c.voluntary_context_switches_total {
                cs.push(with(&l, "kind", "voluntary"), Num::U(v));
            }
            if let Some(v) = c.involuntary_context_switches_total {
                cs.push(with(&l, "kind", "involuntary"), Num::U(v));
            }
            if let Some(v) = c.major_page_faults_total {
                pf.push(with(&l, "kind", "major"), Num::U(v));
            }
            if let Some(v) = c.minor_page_faults_total {
                pf.push(with(&l, "kind", "minor"), Num::U(v));
            }
            if let Some(v) = c.cpu_wait_seconds_total {
                wait.push(l.clone(), Num::F(v));
            }
            if let Some(v) = t.start_time_seconds {
                start.push(l.clone(), Num::F(v));
            }
            restarts.push(l.clone(), Num::U(c.restarts_total));
        }
        for f in [
            &up, &procs, &info, &cpu, &rss, &vms, &swap, &pss, &threads, &fds, &fdu, &ior, &iow,
            &cs, &pf, &wait, &start, &restarts,
        ] {
            f.encode(&mut enc)?;
        }
        cgroup::encode(s, &mut enc)?;
        runtime::encode(s, &mut enc)?;
        app::encode(s, &mut enc)?;
        probe::encode(s, &mut enc)?;
        profiles::encode(s, &mut enc)?;
        net::encode(s, &mut enc)?;
        crate::rules::view::encode(s.rules.as_ref(), &mut enc)?;
        crate::history::view::encode(s.history.as_deref(), &mut enc)?;

        // --- The host: the denominator generated CPU rules share with the in-process signal.
        let mut host_cpus = Family::of(&catalog::HOST_CPUS);
        if let Some(n) = s.host_cpus {
            host_cpus.push(vec![], Num::U(u64::from(n)));
        }
        host_cpus.encode(&mut enc)?;

        // --- About sidewatch itself.
        let mut build = Family::of(&catalog::BUILD);
        build.push(
            plain(&[("version", s.version), ("revision", s.revision)]),
            Num::U(1),
        );
        build.encode(&mut enc)?;

        let mut ticks = Family::of(&catalog::TICKS);
        ticks.push(vec![], Num::U(s.ticks_total));
        ticks.encode(&mut enc)?;

        let h = &s.tick_duration_seconds;
        let mut m = catalog::TICK_DURATION.describe(&mut enc)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum,
            h.count,
            &per_bucket(h),
            None,
        )?;

        let mut errors = Family::of(&catalog::READ_ERRORS);
        for (src, n) in &s.read_errors {
            errors.push(plain(&[("source", *src)]), Num::U(*n));
        }
        errors.encode(&mut enc)?;

        let mut scrapes = Family::of(&catalog::SCRAPES);
        scrapes.push(vec![], Num::U(s.scrapes_total));
        scrapes.encode(&mut enc)?;

        let mut reload_ok = Family::of(&catalog::CONFIG_LAST_RELOAD_SUCCESSFUL);
        reload_ok.push(vec![], Num::U(u64::from(s.config_last_reload_successful)));
        reload_ok.encode(&mut enc)?;
        let mut reload_ts = Family::of(&catalog::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP);
        reload_ts.push(
            vec![],
            Num::F(s.config_last_reload_success_timestamp_seconds),
        );
        reload_ts.encode(&mut enc)?;

        // --- Standard process collector metrics, as every official client library exposes them.
        if let Some(e) = &s.exporter {
            let mut f = Family::of(&catalog::EXPORTER_PROCESS_CPU);
            f.push(vec![], Num::F(e.cpu_seconds));
            f.encode(&mut enc)?;
            if let Some(v) = e.open_fds {
                let mut f = Family::of(&catalog::EXPORTER_PROCESS_OPEN_FDS);
                f.push(vec![], Num::U(v));
                f.encode(&mut enc)?;
            }
            if let Some(v) = e.max_fds {
                let mut f = Family::of(&catalog::EXPORTER_PROCESS_MAX_FDS);
                f.push(vec![], Num::U(v));
                f.encode(&mut enc)?;
            }
            let mut f = Family::of(&catalog::EXPORTER_PROCESS_VIRTUAL_MEMORY);
            f.push(vec![], Num::U(e.virtual_memory_bytes));
            f.encode(&mut enc)?;
            if let Some(v) = e.resident_memory_bytes {
                let mut f = Family::of(&catalog::EXPORTER_PROCESS_RESIDENT_MEMORY);
                f.push(vec![], Num::U(v));
                f.encode(&mut enc)?;
            }
            if let Some(v) = e.start_time_seconds {
                let mut f = Family::of(&catalog::EXPORTER_PROCESS_START_TIME);
                f.push(vec![], Num::F(v));
                f.encode(&mut enc)?;
            }
        }
        Ok(())
    }
}

/// Renders a snapshot as an OpenMetrics 1.0.0 text body (ends with `# EOF`).
pub fn render_openmetrics(snapshot: Arc<Snapshot>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail, and our collector only fails if the writer does.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "rendering metrics failed");
    }
    out
}

/// Derives the Prometheus text format 0.0.4 from an OpenMetrics body produced by
/// [`render_openmetrics`]. Only the constructs that renderer emits are handled: counter family
/// names gain `_total`, `info` families become gauges named `<name>_info`, `unknown` becomes
/// `untyped`, and `# UNIT` / `# EOF` lines are dropped. Samples are identical in both formats.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut pending_help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind): (Cow<'_, str>, &str) = match kind {
                "counter" => (format!("{name}_total").into(), "counter"),
                "info" => (format!("{name}_info").into(), "gauge"),
                "unknown" => (name.into(), "untyped"),
                k => (name.into(), k),
            };
            if let Some((_, help)) = pending_help.take() {
                out.push_str("# HELP ");
                out.push_str(&name);
                out.push(' ');
                out.push_str(help);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&name);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

thread_local! {
    /// The deflate state (a few hundred KiB of tables) is reused from body to body on the
    /// server's thread, the one that gzips (the `/metrics` bodies and the status page): building
    /// a fresh one for every body zeroed that memory each time, and the allocator handed it back
    /// to the kernel and faulted it in again, which cost more than the compression itself.
    static DEFLATE: RefCell<flate2::Compress> =
        RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
}

/// Gzip (RFC 1952) of `body`: a 10-byte header, raw deflate, CRC-32 and length. Level 1
/// ("fast"): on an exposition body it is about 3.5 times quicker than the default level 6 and
/// ~15 % larger (6.7 kB of text: 1.68 kB against 1.47 kB), and a scrape may wait for it.
pub fn gzip(body: &[u8]) -> Bytes {
    DEFLATE.with_borrow_mut(|z| gzip_with(z, body))
}

fn gzip_with(z: &mut flate2::Compress, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() / 3 + 64);
    // No file name or time; XFL 4 = fastest algorithm; OS "unknown" (RFC 1952).
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    let deflated = (|| {
        z.reset();
        let start = z.total_in();
        loop {
            out.reserve(1024);
            // compress_vec writes into spare capacity only; `consumed` tracks the input taken.
            let consumed = usize::try_from(z.total_in() - start).unwrap_or(body.len());
            match z.compress_vec(
                &body[consumed.min(body.len())..],
                &mut out,
                flate2::FlushCompress::Finish,
            ) {
                Ok(flate2::Status::StreamEnd) => return true,
                Ok(_) => {}
                Err(e) => {
                    // Not expected with in-memory buffers; start afresh next time.
                    tracing::error!(error = %e, "gzip failed; using a fresh encoder");
                    *z = flate2::Compress::new(flate2::Compression::fast(), false);
                    return false;
                }
            }
        }
    })();
    if !deflated {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_all(&mut enc, body);
        return Bytes::from(enc.finish().unwrap_or_default());
    }
    let mut crc = flate2::Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input length modulo 2^32 (RFC 1952).
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Bytes::from(out)
}

/// The gzip of `body`, made by the first request that asks for it. It runs on the server's
/// thread, whose [`DEFLATE`] state is then the only one the process keeps.
fn gzip_on_request(body: &Bytes) -> Lazy<Bytes> {
    let body = body.clone();
    Lazy::new(move || gzip(&body))
}

/// Renders the `/metrics` bodies; every other view, and the gzip of each, waits for a request.
pub fn publish(snapshot: Arc<Snapshot>) -> Published {
    let om = render_openmetrics(Arc::clone(&snapshot));
    let text = Bytes::from(openmetrics_to_text(&om));
    let om = Bytes::from(om);
    let for_page = Arc::clone(&snapshot);
    let for_api = Arc::clone(&snapshot);
    Published {
        // The page and the JSON views wait for a request: most ticks have none.
        status_page: Lazy::new(move || {
            let page = crate::status_page::render(&for_page);
            let gzipped = gzip(page.as_bytes());
            (Bytes::from(page), gzipped)
        }),
        history: snapshot.history.clone(),
        profiles: crate::profiles::view::index(&snapshot),
        text_gzip: gzip_on_request(&text),
        openmetrics_gzip: gzip_on_request(&om),
        text,
        openmetrics: om,
        api: Lazy::new(move || crate::rules::view::api_bodies(for_api.rules.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_conversion_renames_counters_and_info() {
        let om = "# HELP a_seconds Help a.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\na_seconds_total{x=\"1\"} 2.5\n# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\ng 3\n# EOF\n";
        let text = openmetrics_to_text(om);
        assert_eq!(
            text,
            "# HELP a_seconds_total Help a.\n# TYPE a_seconds_total counter\na_seconds_total{x=\"1\"} 2.5\n# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\ng 3\n"
        );
    }

    fn gunzip(z: &[u8]) -> Vec<u8> {
        use std::io::Read;
        // GzDecoder checks the header, the CRC-32 and the length.
        let mut d = flate2::read::GzDecoder::new(z);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert!(d.header().is_some());
        out
    }

    #[test]
    fn gzip_round_trips() {
        assert_eq!(gunzip(&gzip(b"hello hello hello")), b"hello hello hello");
        assert_eq!(gunzip(&gzip(b"")), b"");
        // Incompressible and longer than the first output reservation: the loop grows the output.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(gunzip(&gzip(&noise)), noise);
    }

    #[test]
    fn gzip_state_is_reset_between_bodies() {
        let a = b"# HELP a A.\n# TYPE a gauge\na 1\n".repeat(50);
        let b = b"# HELP b B.\n# TYPE b counter\nb_total 2\n".repeat(70);
        let (za, zb) = (gzip(&a), gzip(&b));
        assert_eq!(gunzip(&zb), b);
        assert_eq!(gunzip(&za), a);
        // Same input, same bytes, whatever came before.
        assert_eq!(gzip(&a), za);
        assert!(
            za.len() < a.len() / 5,
            "compressed to {} of {}",
            za.len(),
            a.len()
        );
    }
}
