//! A real Prometheus (Debian package) scrapes a real daemon; its query API must return
//! `up == 1` and the target's series. Prometheus 2.42 asks for OpenMetrics first, so this also
//! proves a real consumer parses our OpenMetrics body.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn prometheus_scrapes_the_daemon() {
    let prometheus = require_tool("prometheus", "prometheus");
    let app = spawn(Command::new("sleep").arg("120").stdout(Stdio::null()));
    let d = Daemon::start(&[
        "--pid",
        &app.pid().to_string(),
        "--name",
        "app",
        "--interval",
        "500ms",
        "--label",
        "pod=web-0",
    ]);

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: sidewatch\n    static_configs:\n      - targets: ['{}']\n",
            d.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _prom = spawn(
        Command::new(prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let (up, rss) = loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not get a successful scrape in time"
        );
        std::thread::sleep(Duration::from_millis(500));
        if std::net::TcpStream::connect(prom_addr).is_err() {
            continue;
        }
        let up = prom_query(prom_addr, "up{job=\"sidewatch\"}");
        let rss = prom_query(
            prom_addr,
            "sidewatch_process_resident_memory_bytes{target=\"app\"}",
        );
        let have = |v: &serde_json::Value| {
            v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        };
        if have(&up) && have(&rss) && up["data"]["result"][0]["value"][1] == "1" {
            break (up, rss);
        }
    };
    assert_eq!(up["data"]["result"][0]["value"][1], "1");
    let series = &rss["data"]["result"][0];
    assert_eq!(series["metric"]["target"], "app");
    assert_eq!(series["metric"]["pod"], "web-0");
    let v: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
    assert!(v > 0.0);
    // Counters arrive typed: rate() over them works, and the info metric carries the pid.
    let info = prom_query(prom_addr, "sidewatch_target_info{target=\"app\"}");
    assert_eq!(
        info["data"]["result"][0]["metric"]["pid"],
        app.pid().to_string()
    );
    let scrape_errors = prom_query(prom_addr, "scrape_samples_scraped{job=\"sidewatch\"}");
    let samples: f64 = scrape_errors["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(samples > 20.0, "{samples}");
}
