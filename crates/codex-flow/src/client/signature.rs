//! `x-flow-signature-256`: HMAC-SHA256 over the exact request body bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-flow-signature-256";
/// The legacy signature header a server also accepts.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-patch-flow-signature-256";

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
///
/// ```
/// let sig = codex_flow::sign_body(b"secret", b"{}");
/// assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
/// assert!(codex_flow::verify_signature(b"secret", b"{}", &sig));
/// assert!(!codex_flow::verify_signature(b"secret", b"{ }", &sig));
/// ```
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header value in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_part) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The request signature header: HMAC-SHA256 over method, path (with query), timestamp and
/// body, so a signature is valid for one request only (within the server's replay window).
pub const REQUEST_SIGNATURE_HEADER: &str = "x-flow-request-signature-256";
/// The Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-flow-timestamp";

fn request_mac(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(method.to_ascii_uppercase().as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    Some(mac)
}

/// `sha256=<hex HMAC-SHA256(secret, METHOD \n path \n timestamp \n body)>`.
///
/// ```
/// let sig = codex_flow::client::sign_request(b"k", "POST", "/events", 1700000000, b"{}");
/// assert!(codex_flow::client::verify_request(b"k", "POST", "/events", 1700000000, b"{}", &sig));
/// assert!(!codex_flow::client::verify_request(b"k", "POST", "/runs/x/cancel", 1700000000, b"{}", &sig));
/// ```
pub fn sign_request(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    match request_mac(secret, method, path, timestamp, body) {
        Some(mac) => format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        None => String::new(),
    }
}

/// Checks a request signature in constant time.
pub fn verify_request(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let Some(expected) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    request_mac(secret, method, path, timestamp, body)
        .is_some_and(|mac| mac.verify_slice(&expected).is_ok())
}
