//! Step progress on stderr.

use std::io::Write;
use std::sync::Arc;

use codex_flow::{OutputStream, ProgressEvent, ProgressSink};

/// A sink printing lifecycle and output lines to stderr.
pub fn stderr_progress() -> ProgressSink {
    Arc::new(|event: &ProgressEvent| {
        let mut err = std::io::stderr().lock();
        let _ = match event {
            ProgressEvent::Started { run_id, flow, step } => writeln!(
                err,
                "> {flow}/{step} started{}",
                run_id
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            ProgressEvent::Output {
                flow,
                step,
                stream,
                line,
                ..
            } => {
                let tag = match stream {
                    OutputStream::Stdout => "out",
                    OutputStream::Stderr => "err",
                    OutputStream::Agent => "agent",
                };
                writeln!(err, "  {flow}/{step} {tag} | {line}")
            }
            ProgressEvent::Finished {
                flow,
                step,
                status,
                error,
                ..
            } => writeln!(
                err,
                "< {flow}/{step} {status}{}",
                error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        };
    })
}
