//! The Service Fabric endpoint's TLS: a self-signed certificate generated at start (rcgen) and
//! a rustls acceptor on the ring provider. Clients pin it by its SHA-1 thumbprint, as Service
//! Fabric's `IDENTITY_SERVER_THUMBPRINT` lets them.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A freshly generated certificate for `localhost` / `127.0.0.1` and its key.
pub struct SelfSigned {
    certificate_der: Vec<u8>,
    key_der: Vec<u8>,
    pub certificate_pem: String,
    /// SHA-1 of the DER bytes, upper-case hex without separators.
    pub thumbprint: String,
}

fn io_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Upper-case hexadecimal SHA-1 of `der`.
pub fn sha1_thumbprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

impl SelfSigned {
    pub fn generate() -> io::Result<Self> {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let generated = rcgen::generate_simple_self_signed(names).map_err(io_error)?;
        let certificate_der = generated.cert.der().to_vec();
        Ok(SelfSigned {
            thumbprint: sha1_thumbprint(&certificate_der),
            certificate_pem: generated.cert.pem(),
            key_der: generated.signing_key.serialize_der(),
            certificate_der,
        })
    }

    /// A TLS acceptor serving this certificate (HTTP/1.1 only).
    pub fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io_error)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.certificate_der.clone())],
                key,
            )
            .map_err(io_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_is_upper_hex_sha1() {
        // SHA-1("abc") from FIPS 180-2.
        assert_eq!(
            sha1_thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        let c = SelfSigned::generate().unwrap();
        assert_eq!(c.thumbprint.len(), 40);
        assert!(c.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(c.acceptor().is_ok());
    }
}
