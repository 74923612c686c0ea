//! TLS to the server, with libpq's meanings of `sslmode`: `disable` (none), `prefer` (the
//! default: encrypted when the server offers it), `require` (encrypted, or no connection),
//! `verify-ca` (and the server's certificate signed by a trusted root) and `verify-full`
//! (and issued to the host the URL names). As in libpq, `prefer` and `require` check no
//! certificate, except that `require` checks like `verify-ca` when `sslrootcert` names the
//! roots to trust; `verify-ca` and `verify-full` trust `sslrootcert`'s roots, or without it
//! the Mozilla roots (where libpq would read `~/.postgresql/root.crt`).
//!
//! The driver knows only the first three modes and no `sslrootcert`, so both are read off the
//! URL here before it parses the rest; the checks are rustls' own (`WebPkiServerVerifier`),
//! with its name check left out for `verify-ca`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing: the connection is encrypted, its peer unproven (`prefer`, `require`).
    Nothing,
    /// Signed by a trusted root (`verify-ca`).
    Chain,
    /// And issued to the URL's host (`verify-full`).
    Name,
}

/// The URL's settings for the driver, and the connector its TLS connections are made with.
pub(crate) fn parse(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect), StoreError> {
    let invalid = |reason: String| StoreError::Url { reason };
    let (address, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut check = None;
    let mut roots_file = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("sslmode", "verify-ca") => check = Some(Check::Chain),
            ("sslmode", "verify-full") => check = Some(Check::Name),
            ("sslrootcert", path) => {
                let path = percent_encoding::percent_decode_str(path)
                    .decode_utf8()
                    .map_err(|e| invalid(format!("sslrootcert is not UTF-8: {e}")))?;
                roots_file = Some(path.into_owned());
            }
            _ => kept.push(pair),
        }
    }
    if check.is_some() {
        // The driver is told to insist on TLS; the checking is the connector's.
        kept.push("sslmode=require");
    }
    let rebuilt = if kept.is_empty() {
        address.to_owned()
    } else {
        format!("{address}?{}", kept.join("&"))
    };
    let config: tokio_postgres::Config = rebuilt
        .parse()
        // The driver's message never repeats the URL (nor its password).
        .map_err(|e| invalid(format!("{e}")))?;
    let check = match check {
        Some(check) => check,
        None if roots_file.is_some()
            && config.get_ssl_mode() == tokio_postgres::config::SslMode::Require =>
        {
            Check::Chain
        }
        None => Check::Nothing,
    };
    let connector = connector(check, roots_file.as_deref())?;
    Ok((config, connector))
}

fn connector(check: Check, roots_file: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    let invalid = |reason: String| StoreError::Url { reason };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = if check == Check::Nothing {
        None
    } else {
        let mut roots = RootCertStore::empty();
        match roots_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| invalid(format!("cannot read sslrootcert {path}: {e}")))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(invalid(format!("sslrootcert {path} holds no certificate")));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| invalid(format!("cannot use the roots to trust: {e}")))?;
        Some(verifier)
    };
    let verifier = Arc::new(Verifier {
        check,
        webpki,
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The server's certificate checked as `check` says: by rustls' own verifier (`webpki`), all
/// of it for `verify-full`, all but the name for `verify-ca` (rustls checks the chain first,
/// so a name that does not match means the chain did), nothing for `prefer` and `require`, as
/// libpq takes them. The handshake's signatures are checked whatever the mode: the session is
/// encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    check: Check,
    /// `None` for [`Check::Nothing`].
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = self
            .webpki
            .as_ref()
            .filter(|_| self.check != Check::Nothing)
        else {
            return Ok(ServerCertVerified::assertion());
        };
        let verified =
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == Check::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A `postgres://` URL as people may read it: without its password.
pub fn describe_url(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("postgres://{at}{host}:{port}/{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_the_driver_does_not_know_are_read_off_the_url() {
        let (config, _) =
            parse("postgres://u@h/db?sslmode=verify-full&application_name=x").unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(config.get_application_name(), Some("x"));
        let (config, _) = parse("postgres://u@h/db").unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
        assert!(matches!(
            parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fno%2Fsuch.pem"),
            Err(StoreError::Url { reason }) if reason.contains("/no/such.pem")
        ));
        assert!(parse("postgres://u@h/db?sslmode=sometimes").is_err());
    }
}
