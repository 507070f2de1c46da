//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert` read from the connection string, and
//! the rustls connector (ring provider) every pool and connection of `codex-db` uses.
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! | --- | --- | --- | --- |
//! | `disable` | no | – | – |
//! | `prefer` (the default, as in libpq) | when the server offers TLS | no | no |
//! | `require` | yes, or the connection fails | no | no |
//! | `verify-ca` | yes | against the roots | no |
//! | `verify-full` | yes | against the roots | yes |
//!
//! Roots: the file named by `sslrootcert=` (PEM, one or more certificates), else the system's
//! store (`sslrootcert=system` says so explicitly). As in libpq, `prefer` and `require` only
//! encrypt: they protect against a passive listener, not against an impostor; use
//! `verify-full` across any network you do not control.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::url::{parse_kv, write_kv, KvPair};
use crate::{DbError, RedactedUrl};

/// The TLS connector of every `codex-db` connection.
pub type TlsConnector = MakeRustlsConnect;

/// libpq's `sslmode`, all five values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    #[default]
    Prefer,
    /// TLS or fail, unverified.
    Require,
    /// TLS, certificate chain checked against the roots, host name not checked.
    VerifyCa,
    /// TLS, certificate chain and host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" | "allow" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// What tokio-postgres is told (it knows only the first three).
    fn driver(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// The TLS settings of one connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`, a PEM file (`None`: the system's roots).
    pub root_cert: Option<PathBuf>,
}

/// A connection string split into what tokio-postgres parses and the TLS settings it does not
/// know (`verify-ca`, `verify-full`, `sslrootcert`).
pub(crate) struct Parsed {
    pub config: tokio_postgres::Config,
    pub tls: TlsSettings,
}

fn invalid(url: &str, reason: impl Into<String>) -> DbError {
    DbError::InvalidUrl {
        url: RedactedUrl::new(url),
        reason: reason.into(),
    }
}

/// Takes `sslmode` and `sslrootcert` out of `url` (URL query or `key=value` form) and parses
/// the rest with tokio-postgres.
pub(crate) fn parse(url: &str) -> Result<Parsed, DbError> {
    let mut tls = TlsSettings::default();
    let mut take = |key: &str, value: &str| -> Result<bool, DbError> {
        match key {
            "sslmode" => {
                tls.mode = SslMode::parse(value).ok_or_else(|| {
                    invalid(
                        url,
                        format!(
                            "sslmode `{value}` is not one of disable, prefer, require, \
                             verify-ca, verify-full"
                        ),
                    )
                })?;
                Ok(true)
            }
            "sslrootcert" => {
                tls.root_cert = (value != "system").then(|| PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let driver_url = if url.contains("://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_decode(value);
                    if !take(key, &value)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_string(),
        }
    } else {
        let pairs = parse_kv(url)
            .ok_or_else(|| invalid(url, "the key=value connection string does not parse"))?;
        let mut kept: Vec<KvPair> = Vec::new();
        for p in pairs {
            if !take(&p.key, &p.value)? {
                kept.push(p);
            }
        }
        write_kv(&kept)
    };
    let mut config: tokio_postgres::Config = driver_url
        .parse()
        .map_err(|e: tokio_postgres::Error| invalid(url, e.to_string()))?;
    config.ssl_mode(tls.mode.driver());
    Ok(Parsed { config, tls })
}

/// Decodes a URL query value as tokio-postgres does (`%2F` is `/`; `+` stays `+`).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The rustls connector for `settings`.
pub(crate) fn connector(url: &str, settings: &TlsSettings) -> Result<TlsConnector, DbError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(url, format!("no usable TLS version: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match settings.mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(EncryptOnly { provider }),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = roots(url, settings)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| tls_error(url, format!("cannot build the verifier: {e}")))?;
            if settings.mode == SslMode::VerifyCa {
                Arc::new(ChainOnly { inner: webpki })
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn tls_error(url: &str, reason: String) -> DbError {
    DbError::Tls {
        url: RedactedUrl::new(url),
        reason,
    }
}

fn roots(url: &str, settings: &TlsSettings) -> Result<RootCertStore, DbError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    match &settings.root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    tls_error(
                        url,
                        format!("cannot read sslrootcert {}: {e}", path.display()),
                    )
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(tls_error(
                    url,
                    format!("sslrootcert {} holds no usable certificate", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(tls_error(
                    url,
                    "no system root certificate found: give sslrootcert=<file>".into(),
                ));
            }
        }
    }
    Ok(roots)
}

/// `prefer` / `require`: any certificate, but the handshake's signatures are still checked
/// (the session is encrypted to whoever holds the presented key).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a root; a host-name mismatch alone is accepted.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_from_both_forms() {
        let p = parse(
            "postgres://u@db:5432/app?sslmode=verify-full&sslrootcert=%2Fca.pem&application_name=x",
        )
        .expect("parses");
        assert_eq!(p.tls.mode, SslMode::VerifyFull);
        assert_eq!(p.tls.root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            p.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(p.config.get_application_name(), Some("x"));

        let p = parse("host=db user=u sslmode=verify-ca sslrootcert='/a b.pem'").expect("parses");
        assert_eq!(p.tls.mode, SslMode::VerifyCa);
        assert_eq!(p.tls.root_cert, Some(PathBuf::from("/a b.pem")));
        assert_eq!(p.config.get_user(), Some("u"));

        let p = parse("postgres://u@db/app?sslrootcert=%2Fa+b.pem").expect("parses");
        assert_eq!(p.tls.root_cert, Some(PathBuf::from("/a+b.pem")));
        let p = parse("postgres://u@db/app").expect("parses");
        assert_eq!(p.tls, TlsSettings::default());
        assert_eq!(p.tls.mode, SslMode::Prefer, "libpq's default");
        let p = parse("postgres://u@db/app?sslmode=disable&sslrootcert=system").expect("parses");
        assert_eq!((p.tls.mode, p.tls.root_cert), (SslMode::Disable, None));
        assert_eq!(
            p.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }

    #[test]
    fn a_bad_sslmode_is_a_clear_error_without_the_password() {
        let err = parse("postgres://u:hunter2@db/app?sslmode=verify")
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(text.contains("sslmode `verify`"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_unreadable_root_file_is_a_clear_error() {
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let err = connector("postgres://db/app", &settings)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
