//! The `codex-flow` command line.

pub mod args;
pub mod commands;
pub mod progress;
pub mod services;
pub mod table;
