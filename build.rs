// Records the git revision for `sidewatch_build_info` (unknown outside a git checkout).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-env-changed=SIDEWATCH_REVISION");
    if std::env::var_os("SIDEWATCH_REVISION").is_some() {
        return;
    }
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(rev) = rev {
        println!("cargo:rustc-env=SIDEWATCH_REVISION={rev}");
    }
}
