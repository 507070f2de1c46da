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
