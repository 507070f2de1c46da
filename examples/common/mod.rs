//! Shared by the examples: how to reach codex.
//!
//! With `OPENAI_API_KEY` or `CODEX_API_KEY` set, examples use your normal codex setup
//! (`CODEX_HOME`, `CODEX_BIN` or `codex` on `PATH`). Without a key they run offline: the bundled
//! mock model (`codex-mock-model`) serves the replies the example scripts, and a throw-away
//! `CODEX_HOME` under `target/example-codex-home/` points codex at it. Either way the example
//! works in a fresh directory under `target/example-workdirs/`, so nothing touches your files.
#![allow(dead_code)]

use codex_mock_model::{write_codex_config, HomeOptions, MockModel, Scenario, ScratchDir};
use codex_runtime::runtime::RuntimeConfig;
use codex_runtime::ClientConfig;
use std::path::PathBuf;

/// What an example needs to connect; keeps the offline mock alive while it lives.
pub struct Example {
    /// How to reach codex (layer 2-4 entry points take this).
    pub client: ClientConfig,
    /// A fresh working directory for the example.
    pub workdir: PathBuf,
    /// True when the bundled mock model answers.
    pub offline: bool,
    home: Option<ScratchDir>,
    _workdir: ScratchDir,
    _mock: Option<MockModel>,
}

impl Example {
    /// The layer-5/6 configuration (same codex, same environment).
    pub fn runtime(&self) -> RuntimeConfig {
        self.client.runtime.clone()
    }

    /// Environment for APIs that read it themselves (`quick_run`): `CODEX_HOME` and a dummy
    /// key when offline, nothing otherwise.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        match &self.home {
            Some(home) => vec![
                ("CODEX_HOME".into(), home.path().display().to_string()),
                ("OPENAI_API_KEY".into(), "offline-example".into()),
            ],
            None => Vec::new(),
        }
    }
}

/// Sets up example `name`; offline, the mock model answers with `scenario`.
pub async fn setup(name: &str, scenario: Scenario) -> anyhow::Result<Example> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let workdir = ScratchDir::create("example-workdirs", name)?;
    let has_key = ["OPENAI_API_KEY", "CODEX_API_KEY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if has_key {
        return Ok(Example {
            client: ClientConfig::new(),
            workdir: workdir.path().to_path_buf(),
            offline: false,
            home: None,
            _workdir: workdir,
            _mock: None,
        });
    }
    let mock = MockModel::start(scenario).await?;
    let home = ScratchDir::create("example-codex-home", name)?;
    write_codex_config(home.path(), &mock.url(), &HomeOptions::default())?;
    eprintln!("[{name}] offline: no OPENAI_API_KEY/CODEX_API_KEY, using the bundled mock model");
    Ok(Example {
        client: ClientConfig::new()
            .with_codex_home(home.path())
            .with_env("OPENAI_API_KEY", "offline-example"),
        workdir: workdir.path().to_path_buf(),
        offline: true,
        home: Some(home),
        _workdir: workdir,
        _mock: Some(mock),
    })
}
