//! `codex-flow`: list, validate, fire and inspect flows.
fn main() {}
