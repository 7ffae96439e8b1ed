//! Shared by the criterion benchmarks: the fixture tree of real kernel text and the targets of
//! the golden exposition (tests/golden/fixture.yml), so the benchmarks measure the same code
//! paths the golden test checks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sidewatch::config::{Overrides, build_settings};
use sidewatch::target::TargetSpec;

pub fn fixture_proc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

/// The golden config's targets: comm, exe, cmdline + children, pid and pid-file selectors.
pub fn golden_targets() -> Vec<TargetSpec> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fixture.yml");
    match build_settings(Some(&file), &Overrides::default(), &|_| None) {
        Ok(s) => s.targets,
        Err(e) => panic!("tests/golden/fixture.yml: {e}"),
    }
}
