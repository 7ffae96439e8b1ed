//! The import graph of `src/` has no circles: `scripts/import-cycles` (the command the docs
//! give) finds none in the tree, and finds the one planted in a scratch tree, so a pass means
//! something.

use std::path::Path;
use std::process::Command;

fn import_cycles(src: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/import-cycles");
    let out = Command::new("python3")
        .arg(&script)
        .arg(src)
        .output()
        .expect("python3 runs scripts/import-cycles");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn src_has_no_import_circles() {
    let (ok, out) = import_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(ok, "import circles among src/ files:\n{out}");
    assert!(out.starts_with("no import circles"), "{out}");
}

#[test]
fn a_planted_circle_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("view")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod expose;\npub mod view;\n").unwrap();
    // The shape issue 16 found: publishing imports a view, the view imports publishing's types;
    // a parent module and its child importing each other count too.
    std::fs::write(
        src.join("expose.rs"),
        "use crate::view::render;\npub struct Family;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("view.rs"),
        "mod part;\nuse crate::expose::Family;\npub fn render() { part::draw() }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("view/part.rs"),
        "pub(super) fn draw() {}\nfn f() { super::render() }\n#[cfg(test)]\nmod tests {\n    use crate::expose::Family;\n}\n",
    )
    .unwrap();
    let (ok, out) = import_cycles(src);
    assert!(!ok, "{out}");
    assert!(out.contains("circle of 3 files:"), "{out}");
    for edge in [
        "expose.rs -> view.rs",
        "view.rs -> expose.rs, view/part.rs",
        "view/part.rs -> view.rs",
    ] {
        assert!(out.contains(edge), "no `{edge}` in:\n{out}");
    }
}
