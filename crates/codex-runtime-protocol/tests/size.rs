//! The dispatch enums stay small: large params are boxed, so a queue of notifications costs a
//! few dozen bytes per entry plus the payload actually received, not the size of the largest
//! notification type.

use codex_runtime_protocol::{AgentMessageDeltaNotification, ServerNotification, ServerRequest};

#[test]
fn dispatch_enums_are_small() {
    let n = std::mem::size_of::<ServerNotification>();
    let r = std::mem::size_of::<ServerRequest>();
    assert!(n <= 160, "ServerNotification is {n} bytes");
    assert!(r <= 160, "ServerRequest is {r} bytes");
    // The hot-path delta stays inline (no extra allocation per delta).
    assert!(n >= std::mem::size_of::<AgentMessageDeltaNotification>());
}
