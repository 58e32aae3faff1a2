//! The status page and `/metrics` as an operator meets them: the real
//! Prometheus server scrapes with Basic auth, a real browser (chromium
//! headless) renders the page, curl is refused without the password or a
//! POST without the page's token; and hostile clients (a 1 MB header,
//! thousands of idle connections, a client that never finishes its
//! request) are cut off while DHCP and DNS go on serving.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::clients::{short, wait_event, Udhcpc};
use common::topo::*;
use common::Netns;

const PW: &str = "correct horse battery staple";
const PAGE: &str = "10.77.0.1:9189";

fn config() -> String {
    with_uplink(&format!(
        r#"[[network]]
name = "nat"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]

[network.dhcp]
ranges = ["10.77.0.100-10.77.0.150"]

[network.dns]
domain = "lab"
local_only = true

[status]
listen = ["{PAGE}"]
password = "{PW}"
"#
    ))
}

/// curl in `ns`: the status code and the body.
fn curl(ns: &Netns, args: &[&str]) -> (u16, String) {
    let o = ns
        .cmd("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn url(path: &str) -> String {
    format!("http://{PAGE}{path}")
}

fn user() -> String {
    format!("netagent:{PW}")
}

/// Prometheus in `ns`, scraping the page every second with the password.
struct Prometheus {
    child: Child,
}

impl Prometheus {
    fn start(ns: &Netns, dir: &std::path::Path) -> Prometheus {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: netagent\n    \
                 basic_auth:\n      username: netagent\n      password: \"{PW}\"\n    \
                 static_configs:\n      - targets: [\"{PAGE}\"]\n"
            ),
        )
        .expect("prometheus.yml");
        let child = ns
            .cmd("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .args(["--web.listen-address=127.0.0.1:9090"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus");
        Prometheus { child }
    }

    /// The first value of an instant query, as Prometheus' HTTP API says it.
    fn query(ns: &Netns, q: &str) -> Option<f64> {
        let (code, body) = curl(
            ns,
            &[
                "-G",
                "http://127.0.0.1:9090/api/v1/query",
                "--data-urlencode",
                &format!("query={q}"),
            ],
        );
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn netns_status_page_is_scraped_rendered_and_closed_to_strangers() {
    need_root!("netns_status_page_is_scraped_rendered_and_closed_to_strangers");
    let mut t = Topo::new();
    let web = t.guest("vg1", "0.0.0.0/32", "");
    let asker = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let cfg = t.write_config("status.toml", &config());
    let agent = t.start(&cfg);
    let ns = &t.g(asker).ns;
    assert!(
        wait_for(Duration::from_secs(10), || curl(
            ns,
            &["-u", &user(), &url("/metrics")]
        )
        .0 == 200)
        .is_some(),
        "the page never answered:\n{}",
        agent.log()
    );

    // Strangers: no password, a wrong one, a POST without the token.
    assert_eq!(curl(ns, &[&url("/")]).0, 401);
    assert_eq!(curl(ns, &["-u", "netagent:guess", &url("/metrics")]).0, 401);
    assert_eq!(curl(ns, &["-u", &user(), "-X", "POST", &url("/")]).0, 403);

    let prom = Prometheus::start(ns, &t.dir);
    let c = Udhcpc::start(&t.g(web).ns, &t.dir, "web");
    let lease = wait_event(&c.events, 0, &["bound"], Duration::from_secs(15)).expect("lease");
    let assigned = "netagent_dhcp4_addresses_assigned{network=\"nat\"}";
    assert!(
        wait_for(Duration::from_secs(30), || Prometheus::query(ns, assigned)
            == Some(1.0))
        .is_some(),
        "Prometheus never saw the lease:\n{}",
        curl(ns, &["-u", &user(), &url("/metrics")]).1
    );
    let asked = "sum(netagent_dns_requests_total{network=\"nat\"})";
    let before = Prometheus::query(ns, asked).unwrap_or(0.0);
    for name in ["web.lab", "web", "nope.lab", "virbr0.lab", "web.lab"] {
        short(ns, "10.77.0.1", &[name]);
    }
    assert!(
        wait_for(Duration::from_secs(15), || Prometheus::query(ns, asked)
            .is_some_and(|n| n >= before + 5.0))
        .is_some(),
        "the DNS counter did not grow by the five queries (from {before})"
    );
    drop(prom);

    // The page in a browser, and as JSON.
    let mac = t
        .g(web)
        .ns
        .ip(&["-br", "link", "show", "eth0"])
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    let dom = ns
        .cmd("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", t.dir.join("chromium").display()),
            "--dump-dom",
            &format!("http://netagent:{}@{PAGE}/", PW.replace(' ', "%20")),
        ])
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    for want in [lease.ip.as_str(), mac.as_str(), "web", UPLINK_IP, "serving"] {
        assert!(dom.contains(want), "{want} not on the page:\n{dom}");
    }
    let (code, json) = curl(ns, &["-u", &user(), "-H", "Accept: application/json", &url("/")]);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(
        v["leases"].as_array().is_some_and(|l| l
            .iter()
            .any(|l| l["hostname"] == "web" && l["mac"] == mac.as_str())),
        "{json}"
    );
    drop(c);

    // Hostile clients, with DNS asked throughout.
    let answer = in_ns(&ns.name, || {
        let mut s = std::net::TcpStream::connect(PAGE).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1 << 20)
        );
        // The server may close before it has read it all.
        let _ = s.write_all(big.as_bytes());
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        String::from_utf8_lossy(&got).to_string()
    });
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "a 1 MB header got: {answer}"
    );
    let held = in_ns(&ns.name, || {
        let mut conns = Vec::new();
        for _ in 0..10_000 {
            match std::net::TcpStream::connect_timeout(&PAGE.parse().unwrap(), Duration::from_millis(200)) {
                Ok(s) => conns.push(s),
                Err(_) => break,
            }
        }
        conns
    });
    assert!(held.len() > 64, "only {} connections opened", held.len());
    assert_eq!(
        short(ns, "10.77.0.1", &["web.lab"]),
        lease.ip,
        "DNS stopped answering"
    );
    let c2 = Udhcpc::start(&t.g(web).ns, &t.dir, "web2");
    assert!(
        wait_event(&c2.events, 0, &["bound"], Duration::from_secs(15)).is_some(),
        "DHCP stopped answering"
    );
    drop(held);
    // A client that never finishes its headers is cut off.
    let cut = in_ns(&ns.name, || {
        let mut s = std::net::TcpStream::connect(PAGE).expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("send");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let started = std::time::Instant::now();
        let mut b = [0u8; 256];
        let _ = s.read(&mut b);
        started.elapsed()
    });
    assert!(
        cut < Duration::from_secs(15),
        "a slow client held its connection {cut:?}"
    );
    assert_eq!(
        curl(ns, &["-u", &user(), &url("/metrics")]).0,
        200,
        "the page did not recover"
    );
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}
