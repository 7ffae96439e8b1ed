//! Real cgroups for tests that run as root: this process's hierarchies read from the kernel's
//! own files, and a guard that kills what is in the test's cgroups and removes them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One hierarchy the test uses: its mount point and our own cgroup in it.
pub struct Mounted {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    pub own: String,
}

/// The cgroup hierarchies of this process, from the kernel's own files (never assumed names:
/// `cpu` and `cpuacct` may be one `cpu,cpuacct` mount or two).
pub fn hierarchies() -> Vec<Mounted> {
    let own_text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut out = Vec::new();
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        let (left, right) = line.split_once(" - ").unwrap();
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let controllers: Vec<String> = match r[0] {
            "cgroup" => r[2]
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children"))
                .map(str::to_string)
                .collect(),
            "cgroup2" => vec![],
            _ => continue,
        };
        let mut key = controllers.clone();
        key.sort();
        let own = own_text.lines().find_map(|o| {
            let mut f = o.splitn(3, ':');
            let (id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let mut c: Vec<String> = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            c.sort();
            ((id == "0") == key.is_empty() && c == key).then(|| path.to_string())
        });
        if let Some(own) = own {
            out.push(Mounted {
                controllers,
                mount_point: PathBuf::from(l[4]),
                own,
            });
        }
    }
    out
}

/// Cgroups created by the test; dropping kills what is in them and removes them.
pub struct TestCgroups {
    pub dirs: Vec<PathBuf>,
}

impl TestCgroups {
    pub fn procs_files(&self) -> Vec<String> {
        self.dirs
            .iter()
            .map(|d| d.join("cgroup.procs").to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for d in &self.dirs {
            loop {
                let pids: Vec<i32> = std::fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect();
                if pids.is_empty() || Instant::now() > deadline {
                    break;
                }
                for p in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for d in self.dirs.iter().rev() {
            while std::fs::remove_dir(d).is_err() && d.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if d.exists() {
                eprintln!("test cgroups: could not remove {}", d.display());
            }
        }
    }
}

/// `sh` puts itself into every cgroup, then execs the program: no code runs between fork and
/// exec in the test process (no unsafe pre_exec).
pub fn in_cgroups(cg: &TestCgroups, prelude: &str, program: &[&str]) -> Command {
    let mut script = String::from("for f in \"$@\"; do echo $$ > \"$f\" || exit 97; done; ");
    script.push_str(prelude);
    script.push_str(" exec");
    for a in program {
        script.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
    }
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(script)
        .arg("sh")
        .args(cg.procs_files())
        .stdin(Stdio::null());
    c
}

/// Our own cgroup's child `name` in hierarchy `h`.
pub fn dir_in(h: &Mounted, name: &str) -> std::path::PathBuf {
    h.mount_point.join(h.own.trim_start_matches('/')).join(name)
}

/// Creates `name` below our own cgroup in each hierarchy (once where two are one mount).
pub fn create_cgroups(hierarchies: &[&Mounted], name: &str) -> TestCgroups {
    let mut cg = TestCgroups { dirs: Vec::new() };
    for h in hierarchies {
        let d = dir_in(h, name);
        if cg.dirs.contains(&d) {
            continue;
        }
        std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        cg.dirs.push(d);
    }
    cg
}
