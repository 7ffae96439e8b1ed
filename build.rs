// Records the git revision (for `sidewatch_build_info` and `--version`) and the build date
// (for `--version`). Outside a git checkout (a source tarball) the revision is unknown; a
// reproducible build sets SOURCE_DATE_EPOCH, as Debian's tooling does.
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SIDEWATCH_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // HEAD and the branch it points to (a worktree's .git is a file, so ask git for the paths).
    for name in ["HEAD", "refs/heads"] {
        if let Some(p) = git(&["rev-parse", "--git-path", name]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s));
    println!(
        "cargo:rustc-env=SIDEWATCH_BUILD_DATE={}",
        humantime::format_rfc3339_seconds(built)
    );
    if std::env::var_os("SIDEWATCH_REVISION").is_some() {
        return;
    }
    let rev = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SIDEWATCH_REVISION={rev}");
}
