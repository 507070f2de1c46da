//! The launcher hook with one OS user per tenant (needs root, `useradd`, `setpriv`; skipped
//! otherwise): a `Launcher` that `chown`s each key's directories to its own user and runs
//! codex as that user through a wrapper script. Without the mount namespace, tenant A's
//! commands still cannot read tenant B's transcript or files (permission denied), while A's
//! own are readable; the users are removed afterwards.

mod pool_support;
mod web_support;

use codex_runtime::runtime::pool::{
    KeyDirs, LaunchSpec, Launcher, PoolError, PoolKey, WrapperLauncher,
};
use codex_runtime::runtime::SessionConfig;
use codex_test_support::codex_mock_model::{Reply, Scenario};
use pool_support::{key, PoolHarness};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Removes the test's users on drop.
struct Users(Vec<String>);

impl Drop for Users {
    fn drop(&mut self) {
        for u in &self.0 {
            let _ = Command::new("userdel").arg(u).output();
        }
    }
}

fn user_of(key: &PoolKey) -> String {
    format!("cxp{}-{}", std::process::id() % 100_000, key)
}

/// Each key runs as its own user: directories handed over in `prepare`, codex started by a
/// wrapper that drops to the user.
#[derive(Debug)]
struct PerUser {
    wrapper: WrapperLauncher,
}

impl Launcher for PerUser {
    fn prepare(&self, key: &PoolKey, dirs: &KeyDirs) -> Result<(), PoolError> {
        let user = user_of(key);
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(&dirs.base)
            .status()
            .map_err(|e| PoolError::Config(e.to_string()))?;
        assert!(status.success());
        // The pool root: others may pass through to their own directory, not list it.
        let root = dirs.base.parent().unwrap();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711)).unwrap();
        Ok(())
    }
    fn launch(
        &self,
        key: &PoolKey,
        dirs: &KeyDirs,
        spec: LaunchSpec,
    ) -> Result<LaunchSpec, PoolError> {
        let mut spec = self.wrapper.launch(key, dirs, spec)?;
        spec.env.push(("CODEX_POOL_USER".into(), user_of(key)));
        Ok(spec)
    }
}

fn available() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let has = |bin: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    root && has("useradd") && has("setpriv") && has("userdel")
}

fn write_wrapper(dir: &Path) -> PathBuf {
    let path = dir.join("as-tenant.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nexec setpriv --reuid=\"$CODEX_POOL_USER\" --regid=\"$CODEX_POOL_USER\" --clear-groups env HOME=\"$CODEX_HOME\" \"$CODEX_BIN\" \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_os_user_per_tenant_keeps_reads_apart_without_the_namespace() {
    if !available() {
        eprintln!("skipped: needs root, useradd, userdel and setpriv");
        return;
    }
    let users = Users((0..2).map(|i| user_of(&key(i))).collect());
    for u in &users.0 {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                u,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd {u}: {out:?}");
    }
    let scripts = tempfile::tempdir().unwrap();
    std::fs::set_permissions(scripts.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let wrapper = write_wrapper(scripts.path());
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007;
    let (b_talk, a_own) = (format!("zebra-{n}-bob-talk"), format!("alpha-{n}-own"));

    let h = PoolHarness::start(Scenario::empty(), 2, SessionConfig::new("."), move |c| {
        c.with_launcher(PerUser {
            wrapper: WrapperLauncher::new(wrapper),
        })
    })
    .await;
    // The temp dir above the pool root must be passable for the tenants' users.
    let root = h.pool.config().root.clone();
    std::fs::set_permissions(
        root.parent().unwrap(),
        std::fs::Permissions::from_mode(0o711),
    )
    .unwrap();
    let (a, b) = (h.pool.dirs(&key(0)), h.pool.dirs(&key(1)));

    h.env.mock.push(Reply::text("noted"));
    let b_session = h.create_session(1).await;
    let mut b_events = h.events(1, &b_session, None).await;
    h.turn(1, &b_session, &format!("remember {b_talk}")).await;
    b_events.until("turn.completed").await;

    let a_session = h.create_session(0).await;
    std::fs::write(a.workspace.join("own.txt"), &a_own).unwrap();
    let user = user_of(&key(0));
    Command::new("chown")
        .args([&format!("{user}:{user}")])
        .arg(a.workspace.join("own.txt"))
        .status()
        .unwrap();
    h.env.mock.push(Reply::shell(format!(
        "id -un; grep -r -a -o 'zebra-[0-9]*-bob-[a-z]*' {root} 2>&1 | head -20; ls {b_home} 2>&1; grep -r -a -o 'alpha-[0-9]*-own' {a_ws} 2>/dev/null | head -5",
        root = root.display(),
        a_ws = a.workspace.display(),
        b_home = b.codex_home.display(),
    )));
    h.env.mock.push(Reply::text("looked around"));
    let mut a_events = h.events(0, &a_session, None).await;
    h.turn(0, &a_session, "look around").await;
    let seen: String = a_events
        .until("turn.completed")
        .await
        .iter()
        .map(|e| e.data.to_string())
        .collect();
    assert!(
        seen.contains(&user),
        "the command ran as the tenant's user: {seen}"
    );
    assert!(seen.contains(&a_own), "A read its own files: {seen}");
    assert!(
        seen.contains("Permission denied"),
        "B's home is closed to A: {seen}"
    );
    assert!(!seen.contains(&b_talk), "A saw B's conversation: {seen}");
    h.stop().await;
    drop(users);
}
