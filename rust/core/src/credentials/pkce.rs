//! PKCE (RFC 7636, S256) and the `state` value for the authorization code flow: random values
//! from the OS (ring's SystemRandom), base64url without padding.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct Pkce {
    /// 43 characters of base64url (32 random bytes); sent only when redeeming the code.
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorize URL.
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Result<Pkce> {
        Ok(Self::from_verifier(Secret::new(random_url_safe(32)?)))
    }

    /// The S256 challenge of a given verifier (pure; RFC 7636 appendix B's example is a test).
    pub fn from_verifier(verifier: Secret) -> Pkce {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.expose().as_bytes());
        Pkce {
            challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
            verifier,
        }
    }
}

/// `len` random bytes as base64url without padding.
pub fn random_url_safe(len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal("the system random generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let p = Pkce::from_verifier(Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_values_are_long_and_distinct() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier.expose().len(), 43);
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(random_url_safe(16).unwrap(), random_url_safe(16).unwrap());
    }
}
