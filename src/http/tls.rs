//! `http.ssl` with rustls: certificates, ALPN (h2, http/1.1) and client
//! certificates against `root_ca`.

use crate::config::http::{ClientAuth, SslConfig};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Build the acceptor; errors name the key whose file is wrong.
pub fn acceptor(cfg: &SslConfig) -> Result<tokio_rustls::TlsAcceptor, (String, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if !cfg.cert.is_file() {
        return Err((
            "http.ssl.cert".into(),
            format!("cert file '{}' does not exist", cfg.cert.display()),
        ));
    }
    if !cfg.key.is_file() {
        return Err((
            "http.ssl.key".into(),
            format!("key file '{}' does not exist", cfg.key.display()),
        ));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            (
                "http.ssl.cert".to_string(),
                format!("cannot read '{}': {e}", cfg.cert.display()),
            )
        })?;
    if certs.is_empty() {
        return Err((
            "http.ssl.cert".into(),
            format!("no certificate in '{}'", cfg.cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key).map_err(|e| {
        (
            "http.ssl.key".to_string(),
            format!(
                "cannot read a private key from '{}': {e}",
                cfg.key.display()
            ),
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| ("http.ssl".to_string(), e.to_string()))?;
    let builder = match (&cfg.root_ca, cfg.client_auth) {
        (Some(ca), auth) if auth != ClientAuth::None => {
            if !ca.is_file() {
                return Err((
                    "http.ssl.root_ca".into(),
                    format!(
                        "root ca path provided, but path '{}' does not exist",
                        ca.display()
                    ),
                ));
            }
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    (
                        "http.ssl.root_ca".to_string(),
                        format!("cannot read '{}': {e}", ca.display()),
                    )
                })?;
            for c in cas {
                roots.add(c).map_err(|e| {
                    (
                        "http.ssl.root_ca".to_string(),
                        format!("bad CA certificate: {e}"),
                    )
                })?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            // rustls always verifies a certificate it is given, so the two
            // "any certificate" modes verify against root_ca too.
            let v = match auth {
                ClientAuth::Request | ClientAuth::VerifyIfGiven => v.allow_unauthenticated(),
                _ => v,
            };
            let v = v.build().map_err(|e| {
                (
                    "http.ssl.root_ca".to_string(),
                    format!("client verifier: {e}"),
                )
            })?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut sc = builder.with_single_cert(certs, key).map_err(|e| {
        (
            "http.ssl.key".to_string(),
            format!("certificate and key do not fit: {e}"),
        )
    })?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(sc)))
}
