//! Request authentication of `codex-flow serve`: bearer token, `x-api-key`, and an HMAC over
//! method, path, timestamp and body with a replay window (the legacy body-only signature when
//! configured). Every comparison is constant-time.

use std::time::Duration;

use axum::http::{HeaderMap, Method};

use crate::client::{
    verify_request, verify_signature, Secret, LEGACY_SIGNATURE_HEADER, REQUEST_SIGNATURE_HEADER,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// What a request must carry.
#[derive(Debug, Clone)]
pub struct ServeAuth {
    /// Required as `authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// Required as `x-api-key`.
    pub api_key: Option<Secret>,
    /// Required signature key (`x-flow-request-signature-256` + `x-flow-timestamp`).
    pub signing_secret: Option<Secret>,
    /// Also accept the body-only `x-flow-signature-256` / `x-patch-flow-signature-256` of older
    /// clients (no replay protection; bodiless requests of such clients are then unsigned).
    pub accept_body_signature: bool,
    /// How far a request's timestamp may be from the server's clock (default 300 s).
    pub replay_window: Duration,
    /// Serve with no credential at all (`--insecure-no-auth`). Without it, a server with no
    /// token, API key or signing secret refuses to start.
    pub insecure_no_auth: bool,
}

impl Default for ServeAuth {
    fn default() -> Self {
        ServeAuth {
            token: None,
            api_key: None,
            signing_secret: None,
            accept_body_signature: false,
            replay_window: Duration::from_secs(300),
            insecure_no_auth: false,
        }
    }
}

/// Why a request was refused (each answers 401 with `{"error": <message>}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Missing or wrong bearer token.
    Token,
    /// Missing or wrong `x-api-key`.
    ApiKey,
    /// Missing or wrong signature, or a timestamp outside the replay window.
    Signature,
}

impl AuthFailure {
    /// The `error` of the 401 answer.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Token => "invalid token",
            AuthFailure::ApiKey => "invalid api key",
            AuthFailure::Signature => "invalid signature",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl ServeAuth {
    /// Whether a token, API key or signing secret is set.
    pub fn has_credential(&self) -> bool {
        self.token.is_some() || self.api_key.is_some() || self.signing_secret.is_some()
    }

    /// Refuses a configuration with no credential unless `insecure_no_auth` says so: such a
    /// server would run flows for anyone who can reach it, web pages the operator opens
    /// included.
    pub fn validate(&self) -> Result<(), String> {
        if self.has_credential() || self.insecure_no_auth {
            return Ok(());
        }
        Err(
            "no credential configured: give --token, --api-key or --signing-secret \
             (or CODEX_FLOW_SERVE_TOKEN / CODEX_FLOW_SERVE_API_KEY / CODEX_FLOW_SERVE_SECRET), \
             or --insecure-no-auth to serve every caller"
                .into(),
        )
    }

    /// Checks one request; `path` is the path with its query, as the client signed it.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), AuthFailure> {
        self.check_headers(headers)?;
        self.check_signature(method, path, headers, body, now_unix)
    }

    /// The checks that need no body (token and API key), done before the body is read.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        if let Some(token) = &self.token {
            let given = header(headers, "authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !token.matches(given.as_bytes()) {
                return Err(AuthFailure::Token);
            }
        }
        if let Some(key) = &self.api_key {
            let given = header(headers, "x-api-key").unwrap_or("");
            if !key.matches(given.as_bytes()) {
                return Err(AuthFailure::ApiKey);
            }
        }
        Ok(())
    }

    /// The signature check (when a signing secret is set).
    pub fn check_signature(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), AuthFailure> {
        let Some(secret) = &self.signing_secret else {
            return Ok(());
        };
        let secret = secret.expose().as_bytes();
        if let Some(signature) = header(headers, REQUEST_SIGNATURE_HEADER) {
            let timestamp = header(headers, TIMESTAMP_HEADER)
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or(AuthFailure::Signature)?;
            let window = self.replay_window.as_secs() as i64;
            let skew = now_unix
                .checked_sub(timestamp)
                .and_then(i64::checked_abs)
                .ok_or(AuthFailure::Signature)?;
            if skew > window {
                return Err(AuthFailure::Signature);
            }
            return if verify_request(secret, method.as_str(), path, timestamp, body, signature) {
                Ok(())
            } else {
                Err(AuthFailure::Signature)
            };
        }
        if self.accept_body_signature {
            if body.is_empty() {
                return Ok(());
            }
            let signature = header(headers, SIGNATURE_HEADER)
                .or_else(|| header(headers, LEGACY_SIGNATURE_HEADER))
                .unwrap_or("");
            if verify_signature(secret, body, signature) {
                return Ok(());
            }
        }
        Err(AuthFailure::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{sign_body, sign_request};

    fn auth() -> ServeAuth {
        ServeAuth {
            token: Some("tok".into()),
            signing_secret: Some("key".into()),
            ..ServeAuth::default()
        }
    }

    fn signed(path: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer tok".parse().unwrap());
        h.insert(TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
        h.insert(
            REQUEST_SIGNATURE_HEADER,
            sign_request(b"key", "POST", path, ts, body)
                .parse()
                .unwrap(),
        );
        h
    }

    #[test]
    fn a_signature_is_valid_for_its_request_only() {
        let a = auth();
        let h = signed("/events", 1000, b"{}");
        assert_eq!(a.check(&Method::POST, "/events", &h, b"{}", 1000), Ok(()));
        assert_eq!(
            a.check(&Method::POST, "/runs/x/cancel", &h, b"{}", 1000),
            Err(AuthFailure::Signature)
        );
        assert_eq!(
            a.check(&Method::POST, "/events", &h, b"{}", 1000 + 301),
            Err(AuthFailure::Signature)
        );
        assert_eq!(
            a.check(&Method::POST, "/events", &h, b"{ }", 1000),
            Err(AuthFailure::Signature)
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_not_overflowed() {
        let a = auth();
        for ts in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let mut h = signed("/events", 0, b"{}");
            h.insert(TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
            assert_eq!(
                a.check(&Method::POST, "/events", &h, b"{}", 1000),
                Err(AuthFailure::Signature)
            );
        }
    }

    #[test]
    fn no_credential_needs_the_insecure_opt_in() {
        let mut a = ServeAuth::default();
        let err = a.validate().unwrap_err();
        assert!(err.contains("--insecure-no-auth"), "{err}");
        a.insecure_no_auth = true;
        assert_eq!(a.validate(), Ok(()));
        assert_eq!(auth().validate(), Ok(()));
    }

    #[test]
    fn legacy_body_signatures_only_when_configured() {
        let mut a = auth();
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer tok".parse().unwrap());
        h.insert(
            LEGACY_SIGNATURE_HEADER,
            sign_body(b"key", b"{}").parse().unwrap(),
        );
        assert_eq!(
            a.check(&Method::POST, "/events", &h, b"{}", 0),
            Err(AuthFailure::Signature)
        );
        a.accept_body_signature = true;
        assert_eq!(a.check(&Method::POST, "/events", &h, b"{}", 0), Ok(()));
        h.remove("authorization");
        assert_eq!(
            a.check(&Method::POST, "/events", &h, b"{}", 0),
            Err(AuthFailure::Token)
        );
    }
}
