//! Certificate pinning for Service Fabric's local HTTPS token endpoint (protocol spec §7): the
//! server is trusted because the SHA-1 of its leaf certificate's DER equals
//! `IDENTITY_SERVER_THUMBPRINT`, not because a CA signed it. The handshake signature is still
//! verified against that certificate's key, so a server that merely replays the certificate
//! without its private key is refused. A mismatch ends the TLS handshake: no HTTP byte (and so
//! no secret header) is ever sent to an unpinned server. rustls with the `ring` provider only.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};

/// A SHA-1 certificate thumbprint, as Windows and Service Fabric write it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificatePin([u8; 20]);

impl CertificatePin {
    /// Parses `IDENTITY_SERVER_THUMBPRINT`: 40 hex digits, case-insensitive; spaces, tabs and
    /// colons between them are ignored (as MSAL for Python does). `what` names the source of
    /// the value in the error.
    pub fn parse(raw: &str, what: &str) -> Result<Self> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | ':'))
            .collect();
        let invalid = || {
            Error::invalid_argument(format!(
                "{what} is not a SHA-1 certificate thumbprint (40 hexadecimal digits)"
            ))
        };
        if digits.len() != 40 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 20];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }

    /// The thumbprint of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Upper-case hex, as `IDENTITY_SERVER_THUMBPRINT` carries it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl std::fmt::Debug for CertificatePin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificatePin({})", self.to_hex())
    }
}

/// The error the verifier raises on a mismatch; [`is_pin_mismatch`] finds it in an error chain.
#[derive(Debug)]
pub struct PinMismatch;

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server certificate does not match IDENTITY_SERVER_THUMBPRINT")
    }
}

impl std::error::Error for PinMismatch {}

/// True when `err` (or any error it wraps) is a pin mismatch raised during the handshake.
pub fn is_pin_mismatch(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<PinMismatch>().is_some() {
            return true;
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
        {
            if other.0.downcast_ref::<PinMismatch>().is_some() {
                return true;
            }
        }
        // io::Error::source() skips the error it wraps; look inside it explicitly.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if is_pin_mismatch(inner) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Accepts exactly the pinned leaf certificate; verifies handshake signatures with ring.
#[derive(Debug)]
struct PinnedVerifier {
    pin: CertificatePin,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if CertificatePin::of_certificate(end_entity.as_ref()) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
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

/// A rustls client configuration (ring provider, TLS 1.2 and 1.3, no client certificate) that
/// trusts exactly the certificate `pin` names.
pub fn client_config(pin: CertificatePin) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("cannot configure TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin, provider }))
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_in_their_usual_spellings() {
        let hex = "0123456789ABCDEF0123456789abcdef01234567";
        let pin = CertificatePin::parse(hex, "T").expect("pin");
        assert_eq!(pin.to_hex(), hex.to_ascii_uppercase());
        let spaced = "01 23 45 67 89:AB:CD:EF\t0123456789abcdef01234567";
        assert_eq!(CertificatePin::parse(spaced, "T").expect("spaced"), pin);
        for bad in ["", "0123", &format!("{hex}00"), &hex.replace('0', "g")] {
            let e = CertificatePin::parse(bad, "IDENTITY_SERVER_THUMBPRINT").expect_err(bad);
            assert!(e.message.starts_with("IDENTITY_SERVER_THUMBPRINT is not"));
        }
    }

    #[test]
    fn the_pin_is_the_sha1_of_the_der() {
        // SHA-1("abc") from FIPS 180-2.
        assert_eq!(
            CertificatePin::of_certificate(b"abc").to_hex(),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }

    #[test]
    fn mismatches_are_recognised_through_wrapping() {
        let verifier = PinnedVerifier {
            pin: CertificatePin::of_certificate(b"expected"),
            provider: Arc::new(crypto::ring::default_provider()),
        };
        let name = ServerName::try_from("localhost").expect("name");
        let wrong = CertificateDer::from(b"other".to_vec());
        let err = verifier
            .verify_server_cert(&wrong, &[], &name, &[], UnixTime::now())
            .expect_err("mismatch");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        assert!(is_pin_mismatch(&io));
        let right = CertificateDer::from(b"expected".to_vec());
        assert!(verifier
            .verify_server_cert(&right, &[], &name, &[], UnixTime::now())
            .is_ok());
        assert!(!is_pin_mismatch(&std::io::Error::other("refused")));
    }
}
