//! Workload identity federation (AKS, GitHub Actions, any OIDC issuer): the client assertion is
//! the contents of `AZURE_FEDERATED_TOKEN_FILE`, sent as `client_assertion` with
//! `client_credentials` (protocol spec §2.8). The file is rotated by its writer (kubelet every
//! hour or so), so it is re-read whenever its modification time or size changes; it is bounded
//! in size and must hold one JWT-like token.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::client_certificate::client_assertion_grant;
use super::entra::{validate_client_id, EntraClient};
use super::environment::{AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID};
use super::scopes::Scopes;
use super::sign_in::{required, SignInInputs, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::secret::Secret;
use crate::token::AccessToken;

pub const SOURCE: &str = "WorkloadIdentity";
/// Largest token file read (a projected service account token is 1–2 KiB).
pub const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The token file, cached until it changes.
#[derive(Debug)]
pub struct FederatedTokenFile {
    path: PathBuf,
    cached: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    token: Secret,
}

impl FederatedTokenFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current assertion: the cached one while the file's mtime and size are unchanged.
    pub fn read(&self) -> Result<Secret> {
        let shown = self.path.display();
        let unreadable = |e: std::io::Error| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("the federated token file '{shown}' ({} or AZURE_FEDERATED_TOKEN_FILE) cannot be read: {e}", Input::FederatedTokenFile),
            )
        };
        let meta = std::fs::metadata(&self.path).map_err(unreadable)?;
        let modified = meta.modified().ok();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref() {
            if c.modified == modified && c.len == meta.len() && modified.is_some() {
                return Ok(c.token.clone());
            }
        }
        if meta.len() > MAX_TOKEN_FILE {
            return Err(Error::invalid_argument(format!(
                "the federated token file '{shown}' is larger than {MAX_TOKEN_FILE} bytes"
            )));
        }
        let bytes = std::fs::read(&self.path).map_err(unreadable)?;
        let token = parse_token_file(&bytes).map_err(|why| {
            Error::invalid_argument(format!("the federated token file '{shown}' {why}"))
        })?;
        *cached = Some(Cached {
            modified,
            len: meta.len(),
            token: token.clone(),
        });
        Ok(token)
    }
}

/// The file's token: trimmed, non-empty, one line of JWT characters. `Err` says why (never
/// quoting the content). A leading UTF-8 byte-order mark is not part of it: Windows PowerShell
/// 5.1's `Set-Content -Encoding UTF8` and older Notepad write one.
pub fn parse_token_file(bytes: &[u8]) -> std::result::Result<Secret, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text")?;
    let token = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    if token.is_empty() {
        return Err("is empty");
    }
    if !token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/'))
    {
        return Err("does not hold a single JWT");
    }
    Ok(Secret::new(token))
}

#[derive(Debug)]
pub struct WorkloadIdentityCredential {
    client_id: String,
    file: FederatedTokenFile,
}

impl WorkloadIdentityCredential {
    pub fn new(client_id: &str, token_file: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            file: FederatedTokenFile::new(token_file),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn token_file(&self) -> &Path {
        self.file.path()
    }

    pub async fn get_token(&self, entra: &EntraClient, resource: &str) -> Result<AccessToken> {
        let scopes = Scopes::app_only(resource)?;
        let assertion = self.file.read()?;
        client_assertion_grant(entra, &self.client_id, &assertion, &scopes, SOURCE).await
    }
}

super::sign_in::application_sign_in_flow!(WorkloadIdentityCredential, SOURCE);

/// The federated token file (`-FederatedTokenFile`, else `AZURE_FEDERATED_TOKEN_FILE`) for the
/// application `-ClientId` (else `AZURE_CLIENT_ID`) in `-TenantId` (else `AZURE_TENANT_ID`),
/// at `-AuthorityHost` (else `AZURE_AUTHORITY_HOST`).
pub(crate) fn sign_in(inputs: &SignInInputs<'_>) -> Result<Signed> {
    let env = inputs.env;
    let tenant = required(
        inputs.tenant.clone().or_else(|| env.var(AZURE_TENANT_ID)),
        format!("{} (or AZURE_TENANT_ID)", Input::TenantId),
        "workload identity",
    )?;
    let client = required(
        inputs.client.clone().or_else(|| env.var(AZURE_CLIENT_ID)),
        format!("{} (or AZURE_CLIENT_ID)", Input::ClientId),
        "workload identity",
    )?;
    let file = required(
        inputs
            .options
            .federated_token_file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .or_else(|| env.var(AZURE_FEDERATED_TOKEN_FILE)),
        AZURE_FEDERATED_TOKEN_FILE,
        "workload identity",
    )?;
    let entra = inputs.entra(inputs.host_or_environment(), &tenant)?;
    let flow = WorkloadIdentityCredential::new(&client, file)?;
    Ok((inputs.credential(entra, Box::new(flow))?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::client_certificate::JWT_BEARER;
    use crate::credentials::entra::test_support::*;
    use crate::http::transport::testing::response;
    use serde_json::json;

    struct TempFile(PathBuf);
    impl TempFile {
        fn new(content: &str) -> Self {
            let path = std::env::temp_dir().join(format!("mi-fed-{}", uuid::Uuid::new_v4()));
            std::fs::write(&path, content).unwrap();
            Self(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            std::fs::remove_file(&self.0).ok();
        }
    }

    #[tokio::test]
    async fn sends_the_file_as_the_assertion_and_rereads_it_when_it_changes() {
        let file = TempFile::new("aaa.bbb.ccc\n");
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", None), &[]))]);
        let (entra, _) = client(fake);
        let cred = WorkloadIdentityCredential::new(CLIENT, &file.0).unwrap();
        let token = cred
            .get_token(&entra, "https://vault.azure.net")
            .await
            .unwrap();
        assert_eq!(token.source, Some(SOURCE));
        // A rotation (different size) is picked up by the next request.
        std::fs::write(&file.0, "dddd.eeee.ffff").unwrap();
        cred.get_token(&entra, "https://vault.azure.net")
            .await
            .unwrap();
        let bodies = bodies.lock().unwrap();
        let first = form_of(&bodies[0]);
        assert_eq!(first["client_assertion"], "aaa.bbb.ccc");
        assert_eq!(first["client_assertion_type"], JWT_BEARER);
        assert_eq!(first["client_id"], CLIENT);
        assert_eq!(first["scope"], "https://vault.azure.net/.default");
        assert_eq!(form_of(&bodies[1])["client_assertion"], "dddd.eeee.ffff");
    }

    #[tokio::test]
    async fn an_expired_federated_token_is_a_clear_error_without_the_token() {
        let file = TempFile::new("old.federated.token");
        let (fake, _) = recording(vec![Ok(response(
            400,
            json!({"error":"invalid_client","error_codes":[700024],
                   "error_description":"AADSTS700024: Client assertion is not within its valid time range. old.federated.token"}),
            &[],
        ))]);
        let (entra, _) = client(fake);
        let cred = WorkloadIdentityCredential::new(CLIENT, &file.0).unwrap();
        let e = cred
            .get_token(&entra, "https://vault.azure.net")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(e.message.contains("AADSTS700024"), "{}", e.message);
        assert!(!e.message.contains("old.federated.token"), "{}", e.message);
    }

    #[test]
    fn bad_files_are_refused_before_any_request() {
        assert_eq!(parse_token_file(b"  \n").unwrap_err(), "is empty");
        assert!(parse_token_file(b"a b").is_err());
        assert!(parse_token_file(&[0xff, 0xfe]).is_err());
        assert_eq!(parse_token_file(b"x.y.z\r\n").unwrap().expose(), "x.y.z");
        // As Windows PowerShell 5.1's Set-Content -Encoding UTF8 writes it: BOM, token, CRLF.
        assert_eq!(
            parse_token_file(b"\xef\xbb\xbfx.y.z\r\n").unwrap().expose(),
            "x.y.z"
        );
        assert_eq!(
            parse_token_file(b"\xef\xbb\xbf\r\n").unwrap_err(),
            "is empty"
        );
        let big = TempFile::new(&"a".repeat(MAX_TOKEN_FILE as usize + 1));
        let e = FederatedTokenFile::new(&big.0).read().unwrap_err();
        assert!(e.message.contains("larger"), "{}", e.message);
        let e = FederatedTokenFile::new("/nonexistent/token")
            .read()
            .unwrap_err();
        assert!(
            e.message.contains(&format!(
                "{} or AZURE_FEDERATED_TOKEN_FILE",
                Input::FederatedTokenFile
            )),
            "{}",
            e.message
        );
    }
}
