//! `scripts/update-codex.sh` and its protocol diff printer (`scripts/protocol-diff.py`).
//!
//! The script runs on a copy of the files it reads and writes (scripts, schemas, the protocol
//! crate's sources, the pin's files), never on this tree. Its codex comes from a fake install
//! directory (`CODEX_INSTALL_DIR`) holding a wrapper around the pinned codex that reports the
//! version under test (`tests/version_wrapper`), so "moving the pin" to a release that does not
//! exist yet can be shown: same protocol, new version everywhere the pin is written.

#[allow(dead_code)] // this file uses only `write_wrapper`
mod version_wrapper;

use codex_mock_model::ScratchDir;
use codex_runtime::runtime::versions::format_version;
use codex_runtime::runtime::MAX_CODEX_VERSION;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What the script reads or writes, copied into the scratch tree.
const COPIED: &[&str] = &[
    "scripts",
    "schemas",
    "crates/codex-runtime-protocol/src",
    "crates/codex-runtime/src/lib.rs",
    "crates/codex-runtime/src/runtime/versions.rs",
    "crates/codex-runtime/src/runtime/method_table.rs",
    "docs/COMPATIBILITY.md",
    "docs/GUIDE.md",
    "README.md",
];

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every copied file, as (relative path, bytes), sorted.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if !path.to_string_lossy().contains("__pycache__") {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// A copy of the script's inputs, and a fake install directory whose codex reports `version`.
struct Tree {
    root: PathBuf,
    install: PathBuf,
    _dirs: (ScratchDir, ScratchDir),
}

fn tree(version: &str) -> Tree {
    let copy = ScratchDir::create("codex-workdirs", "update-codex").unwrap();
    for rel in COPIED {
        copy_tree(&Path::new(ROOT).join(rel), &copy.path().join(rel));
    }
    let install = ScratchDir::create("codex-workdirs", "fake-install").unwrap();
    let (triple, pkg) = match std::env::consts::ARCH {
        "aarch64" => ("aarch64-unknown-linux-musl", "codex-linux-arm64"),
        _ => ("x86_64-unknown-linux-musl", "codex-linux-x64"),
    };
    let bin_dir = install
        .path()
        .join(format!("node_modules/@openai/{pkg}/vendor/{triple}/bin"));
    std::fs::create_dir_all(&bin_dir).unwrap();
    let pinned = codex_test_support::codex_bin_version(&format_version(MAX_CODEX_VERSION))
        .expect("the pinned codex");
    version_wrapper::write_wrapper(&bin_dir.join("codex"), &pinned, version);
    Tree {
        root: copy.path().to_path_buf(),
        install: install.path().to_path_buf(),
        _dirs: (copy, install),
    }
}

/// Runs `scripts/update-codex.sh version` in the tree; returns (stdout, stderr), asserting success.
fn update(tree: &Tree, version: &str) -> (String, String) {
    let out = Command::new(tree.root.join("scripts/update-codex.sh"))
        .arg(version)
        .current_dir(&tree.root)
        .env("CODEX_INSTALL_DIR", &tree.install)
        .env_remove("CODEX_VERSION")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn the_protocol_diff_printer_passes_its_unit_tests() {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "scripts/tests", "-v"])
        .current_dir(ROOT)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Ran 5 tests"), "{stderr}");
}

#[test]
fn update_codex_on_the_pin_changes_nothing_and_reports_no_protocol_changes() {
    let pin = format_version(MAX_CODEX_VERSION);
    let tree = tree(&pin);
    let before = snapshot(&tree.root);
    let (stdout, stderr) = update(&tree, &pin);
    assert!(
        stdout.contains("protocol-diff: no protocol changes"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("nothing to move"), "{stderr}");
    assert!(stderr.contains("no file changed"), "{stderr}");
    let after = snapshot(&tree.root);
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.display().to_string())
        .collect();
    assert_eq!(before.len(), after.len(), "files were added or removed");
    assert!(changed.is_empty(), "changed: {changed:?}");
}

#[test]
fn update_codex_to_a_newer_release_moves_the_pin_everywhere_it_is_written() {
    let pin = format_version(MAX_CODEX_VERSION);
    let (major, minor, _) = MAX_CODEX_VERSION;
    let next = format!("{major}.{}.0", minor + 1);
    let tree = tree(&next);
    let generated_before = snapshot(
        &tree
            .root
            .join("crates/codex-runtime-protocol/src/generated"),
    );
    let (stdout, stderr) = update(&tree, &next);
    // The wrapped codex has the pin's protocol: nothing changed in it.
    assert!(
        stdout.contains("protocol-diff: no protocol changes"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        snapshot(
            &tree
                .root
                .join("crates/codex-runtime-protocol/src/generated")
        ),
        generated_before
    );
    // The pin moved in every place it is written.
    let r = &tree.root;
    assert!(read(r, "scripts/install-codex.sh").contains(&format!("CODEX_VERSION:-{next}}}")));
    assert!(read(r, "scripts/install-codex.sh").contains(&format!("@openai/codex@{next}")));
    assert!(
        read(r, "crates/codex-runtime/src/runtime/versions.rs").contains(&format!(
            "MAX_CODEX_VERSION: CodexVersion = ({major}, {}, 0);",
            minor + 1
        ))
    );
    assert!(read(r, "scripts/test-matrix.sh").contains(&format!(" {pin} {next})")));
    assert!(read(r, "scripts/gen-versions.py").contains(&format!("\"{pin}\", \"{next}\"]")));
    assert!(read(r, "scripts/test.sh").contains(&format!("@openai/codex@{next}")));
    let readme = read(r, "README.md");
    assert!(
        readme.contains(&format!("to {next}** (pinned: {next})")),
        "{readme}"
    );
    assert!(readme.contains(&format!("{pin} and {next}")));
    assert!(read(r, "crates/codex-runtime/src/lib.rs").contains(&format!("pinned to codex {next}")));
    assert!(read(r, "crates/codex-runtime-protocol/src/lib.rs").contains(&format!("pinned {next}")));
    // The new version has its table, its column in the doc, and its row bit in the Rust table.
    assert!(r.join(format!("schemas/versions/{next}.json")).is_file());
    assert!(read(r, "docs/COMPATIBILITY.md").contains(&format!("| {pin} | {next} |")));
    assert!(read(r, "crates/codex-runtime/src/runtime/method_table.rs")
        .contains(&format!("({major}, {}, 0)", minor + 1)));
    // The report lists the files the move changed.
    assert!(
        stderr.contains("files changed") && stderr.contains("README.md"),
        "{stderr}"
    );
}

/// `scripts/test-matrix.sh --latest-check` with a fake `npm` on `PATH` answering `view`: what
/// the matrix decides about the registry's `latest` codex, and that it says so every time.
fn latest_check(npm_script: &str) -> String {
    let dir = ScratchDir::create("codex-workdirs", "fake-npm").unwrap();
    let npm = dir.path().join("npm");
    std::fs::write(&npm, format!("#!/bin/sh\n{npm_script}\n")).unwrap();
    std::fs::set_permissions(&npm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(Path::new(ROOT).join("scripts/test-matrix.sh"))
        .arg("--latest-check")
        .current_dir(ROOT)
        .env("PATH", path)
        .env_remove("CODEX_MATRIX_LATEST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn the_matrix_says_what_it_does_with_the_npm_latest_codex() {
    let pin = format_version(MAX_CODEX_VERSION);
    let (major, minor, _) = MAX_CODEX_VERSION;
    let next = format!("{major}.{}.0", minor + 1);
    // Latest is the pin (today): skipped, saying so.
    let msg = latest_check(&format!("echo {pin}"));
    assert!(
        msg.contains(&format!(
            "npm latest is codex {pin}, not newer than the pin {pin}"
        )) && msg.contains("skipped"),
        "{msg}"
    );
    // Latest is newer: the suite runs against it, named as untested.
    let msg = latest_check(&format!("echo {next}"));
    assert!(
        msg.contains(&format!(
            "npm latest is codex {next}, newer than the pin {pin}: the suite runs against it too (untested)"
        )),
        "{msg}"
    );
    // The registry cannot be reached: said, and the window goes on.
    let msg = latest_check("echo 'npm ERR! network' >&2; exit 1");
    assert!(
        msg.contains("npm registry is unreachable") && msg.contains("going on with the window"),
        "{msg}"
    );
    // Something that is not a version: said, not used.
    let msg = latest_check("echo '<html>'");
    assert!(msg.contains("not X.Y.Z: not checked"), "{msg}");
}
