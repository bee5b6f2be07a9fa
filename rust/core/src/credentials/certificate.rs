//! A client certificate for signing assertions: an RSA private key (ring) with its X.509
//! certificate's SHA-1 and SHA-256 thumbprints. Loaded from a PFX/PKCS#12 file (with password),
//! a PEM file holding the certificate and a PKCS#8 or PKCS#1 key, or raw RSA parameters (what
//! .NET's `RSA.ExportParameters(true)` gives, for a certificate from the Windows store). The key
//! must belong to the certificate: checked here, so a mismatch is a clear local error.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::secret::Secret;

/// Largest certificate file read.
pub const MAX_CERTIFICATE_FILE: u64 = 1024 * 1024;

pub struct ClientCertificate {
    key: RsaKeyPair,
    certificate_der: Vec<u8>,
    sha1: [u8; 20],
    sha256: [u8; 32],
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// RSA private key parameters, each big-endian unsigned and base64 (standard alphabet), as
/// .NET's `RSAParameters` names them (`Modulus`=n, `Exponent`=e, `D`, `P`, `Q`, `DP`, `DQ`,
/// `InverseQ`=qi).
#[derive(Clone, Debug)]
pub struct RsaParameters {
    pub n: String,
    pub e: String,
    pub d: Secret,
    pub p: Secret,
    pub q: Secret,
    pub dp: Secret,
    pub dq: Secret,
    pub qi: Secret,
}

impl RsaParameters {
    /// From a JSON object with keys `n e d p q dp dq qi` (or .NET's `Modulus Exponent D P Q DP
    /// DQ InverseQ`, any case).
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let object = value
            .as_object()
            .ok_or_else(|| bad_certificate("the RSA parameters are not a JSON object"))?;
        let get = |names: &[&str]| -> Result<String> {
            object
                .iter()
                .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad_certificate(format!("RSA parameter {} is missing", names[0])))
        };
        Ok(Self {
            n: get(&["n", "Modulus"])?,
            e: get(&["e", "Exponent"])?,
            d: Secret::new(get(&["d"])?),
            p: Secret::new(get(&["p"])?),
            q: Secret::new(get(&["q"])?),
            dp: Secret::new(get(&["dp"])?),
            dq: Secret::new(get(&["dq"])?),
            qi: Secret::new(get(&["qi", "InverseQ"])?),
        })
    }
}

fn bad_certificate(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

impl ClientCertificate {
    /// Reads a PFX (`.pfx`/`.p12`, or any file that is not PEM) or PEM file.
    pub fn from_file(path: &std::path::Path, password: Option<&Secret>) -> Result<Self> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| {
            bad_certificate(format!(
                "{} '{shown}' cannot be read: {e}",
                Input::CertificatePath
            ))
        })?;
        if !meta.is_file() || meta.len() > MAX_CERTIFICATE_FILE {
            return Err(bad_certificate(format!(
                "{} '{shown}' is not a certificate file (at most 1 MiB)",
                Input::CertificatePath
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            bad_certificate(format!(
                "{} '{shown}' cannot be read: {e}",
                Input::CertificatePath
            ))
        })?;
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(&bytes)
        } else {
            Self::from_pkcs12(&bytes, password)
        }
    }

    /// A PKCS#12 archive holding an RSA key and its certificate.
    pub fn from_pkcs12(bytes: &[u8], password: Option<&Secret>) -> Result<Self> {
        let password = password.map(Secret::expose).unwrap_or_default();
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            bad_certificate(format!(
                "the PFX file cannot be opened (wrong {}, or not a PKCS#12 file): {}",
                Input::CertificatePassword,
                pkcs12_reason(&e)
            ))
        })?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| bad_certificate("the PFX file holds no private key"))?;
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der()).map_err(|e| {
            bad_certificate(format!("the PFX file's key is not a usable RSA key: {e}"))
        })?;
        let certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
        Self::pair(key, &certs, "the PFX file")
    }

    /// PEM text holding a `CERTIFICATE` and a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY`
    /// (PKCS#1). Encrypted PEM keys are refused with a hint to use a PFX.
    pub fn from_pem(bytes: &[u8]) -> Result<Self> {
        let blocks = pem::parse_many(bytes)
            .map_err(|e| bad_certificate(format!("the PEM file cannot be parsed: {e}")))?;
        let mut certs = Vec::new();
        let mut key = None;
        for block in &blocks {
            match block.tag() {
                "CERTIFICATE" => certs.push(block.contents().to_vec()),
                "PRIVATE KEY" => {
                    key = Some(RsaKeyPair::from_pkcs8(block.contents()).map_err(|e| {
                        bad_certificate(format!("the PEM private key is not a usable RSA key: {e}"))
                    })?)
                }
                "RSA PRIVATE KEY" => {
                    key = Some(RsaKeyPair::from_der(block.contents()).map_err(|e| {
                        bad_certificate(format!("the PEM RSA private key is not usable: {e}"))
                    })?)
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(bad_certificate(format!(
                        "the PEM private key is encrypted; convert it to a PFX (openssl pkcs12 -export) and pass {}",
                        Input::CertificatePassword
                    )))
                }
                _ => {}
            }
        }
        let key = key.ok_or_else(|| {
            bad_certificate("the PEM file holds no private key (PRIVATE KEY or RSA PRIVATE KEY)")
        })?;
        Self::pair(key, &certs, "the PEM file")
    }

    /// Raw RSA parameters plus the certificate (DER).
    pub fn from_rsa_parameters(params: &RsaParameters, certificate_der: &[u8]) -> Result<Self> {
        let b64 = |name: &str, v: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|_| bad_certificate(format!("RSA parameter {name} is not base64")))
        };
        let components = ring::rsa::KeyPairComponents {
            public_key: ring::rsa::PublicKeyComponents {
                n: b64("n", &params.n)?,
                e: b64("e", &params.e)?,
            },
            d: b64("d", params.d.expose())?,
            p: b64("p", params.p.expose())?,
            q: b64("q", params.q.expose())?,
            dP: b64("dp", params.dp.expose())?,
            dQ: b64("dq", params.dq.expose())?,
            qInv: b64("qi", params.qi.expose())?,
        };
        let key = RsaKeyPair::from_components(&components).map_err(|e| {
            bad_certificate(format!("the RSA parameters are not a usable key: {e}"))
        })?;
        Self::pair(key, &[certificate_der.to_vec()], "the certificate")
    }

    /// Picks the certificate whose public key is the key's.
    fn pair(key: RsaKeyPair, certs: &[Vec<u8>], what: &str) -> Result<Self> {
        if certs.is_empty() {
            return Err(bad_certificate(format!("{what} holds no certificate")));
        }
        let modulus = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public()).n;
        let cert = certs
            .iter()
            .find(|der| der.windows(modulus.len()).any(|w| w == modulus.as_slice()))
            .ok_or_else(|| {
                bad_certificate(format!(
                    "the private key in {what} does not belong to its certificate"
                ))
            })?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert);
        let sha256 = ring::digest::digest(&ring::digest::SHA256, cert);
        let mut out = Self {
            key,
            certificate_der: cert.clone(),
            sha1: [0; 20],
            sha256: [0; 32],
        };
        out.sha1.copy_from_slice(sha1.as_ref());
        out.sha256.copy_from_slice(sha256.as_ref());
        Ok(out)
    }

    /// SHA-1 thumbprint, upper-case hex (as Windows shows it).
    pub fn thumbprint(&self) -> String {
        self.sha1.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// `x5t`: base64url SHA-1 of the certificate.
    pub fn x5t(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.sha1)
    }

    /// `x5t#S256`: base64url SHA-256 of the certificate.
    pub fn x5t_s256(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.sha256)
    }

    /// The public key as a DER `RSAPublicKey`.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public().as_ref()
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| Error::internal("RSA signing failed"))?;
        Ok(signature)
    }
}

/// The PKCS#12 error's kind without any data from the file.
fn pkcs12_reason(e: &p12_keystore::error::Error) -> String {
    let text = e.to_string();
    text.chars().take(120).collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    pub const CERT_PEM: &str = include_str!("testdata/cert.pem");
    pub const KEY_PEM: &str = include_str!("testdata/key.pem");
    pub const KEY_PKCS1_PEM: &str = include_str!("testdata/key-pkcs1.pem");
    pub const OTHER_CERT_PEM: &str = include_str!("testdata/other-cert.pem");
    pub const PFX: &[u8] = include_bytes!("testdata/client.pfx");
    pub const PFX_LEGACY: &[u8] = include_bytes!("testdata/client-legacy.pfx");
    pub const PFX_PASSWORD: &str = "test-pfx-password";
    pub const KEY_PARAMS: &str = include_str!("testdata/key-params.json");
    /// `openssl x509 -fingerprint -sha1` of cert.pem.
    pub const THUMBPRINT: &str = "433ED43E2373E4520909F0A0E6445A18B4B39D51";
    /// `openssl x509 -fingerprint -sha256` of cert.pem, hex.
    pub const SHA256_HEX: &str = "DD890F02185FDC18765E63A8D8A9C70BAFD3E12FCF98C253FBDC042B27D3B487";

    pub fn certificate() -> super::ClientCertificate {
        super::ClientCertificate::from_pem(format!("{CERT_PEM}{KEY_PEM}").as_bytes())
            .expect("fixture")
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn cert_der() -> Vec<u8> {
        pem::parse(CERT_PEM).unwrap().contents().to_vec()
    }

    fn assert_fixture(c: &ClientCertificate) {
        assert_eq!(c.thumbprint(), THUMBPRINT);
        let sha256: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&SHA256_HEX[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            c.x5t_s256(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256)
        );
        assert_eq!(c.certificate_der(), cert_der().as_slice());
        assert!(!format!("{c:?}").contains("BEGIN"));
    }

    #[test]
    fn loads_every_key_format() {
        assert_fixture(&certificate());
        assert_fixture(
            &ClientCertificate::from_pem(format!("{KEY_PKCS1_PEM}\n{CERT_PEM}").as_bytes())
                .unwrap(),
        );
        let password = Secret::new(PFX_PASSWORD);
        assert_fixture(&ClientCertificate::from_pkcs12(PFX, Some(&password)).unwrap());
        assert_fixture(&ClientCertificate::from_pkcs12(PFX_LEGACY, Some(&password)).unwrap());
        let params = RsaParameters::from_json(&serde_json::from_str(KEY_PARAMS).unwrap()).unwrap();
        assert!(!format!("{params:?}").contains(params.d.expose()));
        assert_fixture(&ClientCertificate::from_rsa_parameters(&params, &cert_der()).unwrap());
    }

    #[test]
    fn signatures_verify_with_the_certificates_public_key() {
        let c = certificate();
        let signature = c.sign_rs256(b"header.payload").unwrap();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            c.public_key_der(),
        )
        .verify(b"header.payload", &signature)
        .expect("valid RS256 signature");
    }

    #[test]
    fn wrong_inputs_are_clear_errors() {
        let e = ClientCertificate::from_pkcs12(PFX, Some(&Secret::new("nope"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(
            e.message.contains(&Input::CertificatePassword.to_string()),
            "{}",
            e.message
        );
        assert!(!e.message.contains("nope"));
        let e = ClientCertificate::from_pem(format!("{OTHER_CERT_PEM}{KEY_PEM}").as_bytes())
            .unwrap_err();
        assert!(e.message.contains("does not belong"), "{}", e.message);
        let e = ClientCertificate::from_pem(CERT_PEM.as_bytes()).unwrap_err();
        assert!(e.message.contains("no private key"), "{}", e.message);
        let e = ClientCertificate::from_pem(KEY_PEM.as_bytes()).unwrap_err();
        assert!(e.message.contains("no certificate"), "{}", e.message);
        let e = ClientCertificate::from_file(std::path::Path::new("/nonexistent/x.pfx"), None)
            .unwrap_err();
        assert!(
            e.message.contains(&Input::CertificatePath.to_string()),
            "{}",
            e.message
        );
    }

    #[test]
    fn reads_files_of_either_kind() {
        let dir = std::env::temp_dir().join(format!("mi-cert-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let pfx = dir.join("c.pfx");
        std::fs::write(&pfx, PFX).unwrap();
        let pem_path = dir.join("c.pem");
        std::fs::write(&pem_path, format!("{CERT_PEM}{KEY_PEM}")).unwrap();
        let password = Secret::new(PFX_PASSWORD);
        assert_fixture(&ClientCertificate::from_file(&pfx, Some(&password)).unwrap());
        assert_fixture(&ClientCertificate::from_file(&pem_path, None).unwrap());
        std::fs::remove_dir_all(&dir).ok();
    }
}
