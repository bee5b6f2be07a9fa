//! Azure CLI credential: borrows the signed-in `az` account's token, as Azure.Identity's
//! AzureCliCredential does, but runs `az` directly (no shell): `az account get-access-token
//! --output json --resource <resource> [--tenant <tenant>]`. `az` is looked up on PATH (on
//! Windows `az.cmd`, as the CLI installs it), arguments are validated with Azure.Identity's
//! character sets, the run is bounded (the child is killed on timeout or cancellation) and its
//! output bounded. Errors say whether `az` is missing or not logged in; stdout (which holds the
//! token) never reaches an error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::sign_in::{SignInInputs, Signed, DEFAULT_DELEGATED_TENANT};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::jwt;
use crate::secret::Secret;
use crate::token::{normalize_resource, AccessToken};

pub const SOURCE: &str = "AzureCli";
/// Azure.Identity's `CliProcessTimeout` is 13 s; a cold `az` start on a small VM needs more.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest stdout/stderr kept.
pub const MAX_OUTPUT: u64 = 256 * 1024;

#[derive(Debug, Clone)]
pub struct AzureCliCredential {
    tenant: Option<String>,
    timeout: Duration,
    /// The PATH to search; `None` = the process's.
    search_path: Option<OsString>,
}

impl AzureCliCredential {
    pub fn new(tenant: Option<&str>) -> Result<Self> {
        let tenant = match tenant.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Some(validate_tenant(t)?),
            None => None,
        };
        Ok(Self {
            tenant,
            timeout: DEFAULT_TIMEOUT,
            search_path: None,
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Searches this PATH instead of the process's (tests, hosts with their own PATH).
    pub fn with_search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// A token for `resource` (or a `.default` scope) from the CLI's signed-in account.
    pub async fn get_token(&self, clock: &dyn Clock, resource: &str) -> Result<AccessToken> {
        let resource = validate_resource(&normalize_resource(
            resource,
            crate::input::Input::Resource,
        )?)?;
        let path = self
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let az = find_az(&path).ok_or_else(|| {
            Error::new(
                ErrorKind::EndpointUnavailable,
                "the Azure CLI ('az') was not found on PATH; install it (https://aka.ms/azure-cli) and run 'az login', or use another sign-in",
            )
        })?;
        let mut args = vec![
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            resource.as_str(),
        ];
        if let Some(tenant) = &self.tenant {
            args.extend(["--tenant", tenant.as_str()]);
        }
        let now = clock.now_unix();
        let run = run(&az, &args);
        let (status, stdout, stderr) = tokio::select! {
            r = run => r?,
            _ = clock.sleep(self.timeout) => return Err(Error::new(
                ErrorKind::Timeout,
                format!("the Azure CLI did not answer within {} s", self.timeout.as_secs()),
            )),
        };
        if !status {
            return Err(cli_error(&String::from_utf8_lossy(&stderr)));
        }
        let mut token = parse_cli_output(&stdout, &resource, now)?;
        token.source = Some(SOURCE);
        Ok(token)
    }
}

/// Runs `az` (killed if this future is dropped); `(success, stdout, stderr)`.
async fn run(az: &Path, args: &[&str]) -> Result<(bool, Vec<u8>, Vec<u8>)> {
    let mut child = tokio::process::Command::new(az)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::new(
                ErrorKind::EndpointUnavailable,
                format!("the Azure CLI at '{}' cannot be started: {e}", az.display()),
            )
        })?;
    let mut stdout = child.stdout.take().map(|s| s.take(MAX_OUTPUT));
    let mut stderr = child.stderr.take().map(|s| s.take(MAX_OUTPUT));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let read_out = async {
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out).await;
        }
    };
    let read_err = async {
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut err).await;
        }
    };
    tokio::join!(read_out, read_err);
    let status = child
        .wait()
        .await
        .map_err(|e| Error::internal(format!("waiting for the Azure CLI failed: {e}")))?;
    Ok((status.success(), out, err))
}

/// The `az` executable in `path`: `az.cmd`/`az.exe` on Windows, `az` elsewhere.
pub fn find_az(path: &OsString) -> Option<PathBuf> {
    let names: &[&str] = if cfg!(windows) {
        &["az.cmd", "az.exe", "az.bat"]
    } else {
        &["az"]
    };
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| candidate.is_file())
}

/// Parses `az account get-access-token --output json` (pure). Expiry: `expires_on` (always
/// absolute epoch seconds, az ≥ 2.54), else the token's own `exp` claim (`expiresOn` is local time without an
/// offset, so it is not trusted).
pub fn parse_cli_output(stdout: &[u8], resource: &str, now: u64) -> Result<AccessToken> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("the Azure CLI's output {what}"),
        )
    };
    let v: Value = serde_json::from_slice(stdout).map_err(|_| invalid("is not JSON"))?;
    let access = v
        .get("accessToken")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("has no accessToken"))?;
    let expires_on = v
        .get("expires_on")
        .and_then(|e| e.as_u64().or_else(|| e.as_str()?.trim().parse().ok()))
        .or_else(|| jwt::decode(access).and_then(|c| c.exp))
        .ok_or_else(|| invalid("has no expires_on and the token carries no exp"))?;
    if expires_on <= now {
        return Err(invalid("holds an expired token; run 'az login' again"));
    }
    let token_type = v
        .get("tokenType")
        .and_then(Value::as_str)
        .unwrap_or("Bearer");
    Ok(AccessToken::new(
        Secret::new(access),
        expires_on,
        now,
        resource,
        token_type,
    ))
}

/// The typed error for a failed run, from its stderr (pure). Only the first lines are shown.
pub fn cli_error(stderr: &str) -> Error {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("az login") || lower.contains("az account set") {
        return Error::new(
            ErrorKind::AuthenticationFailed,
            "the Azure CLI is not signed in (or the sign-in expired): run 'az login' (with --tenant for another tenant)",
        );
    }
    if lower.contains("not recognized") || lower.contains("command not found") {
        return Error::new(
            ErrorKind::EndpointUnavailable,
            "the Azure CLI ('az') could not be run; install it (https://aka.ms/azure-cli)",
        );
    }
    let first: String = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    Error::new(
        ErrorKind::AuthenticationFailed,
        format!("the Azure CLI failed to get a token: {first}"),
    )
}

/// Azure.Identity's scope/resource character set: `[0-9a-zA-Z-_.:/]`.
fn validate_resource(resource: &str) -> Result<String> {
    if resource
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
    {
        Ok(resource.to_string())
    } else {
        Err(Error::invalid_argument(format!(
            "{} '{}' has characters the Azure CLI credential does not pass on (letters, digits, - _ . : / only)",
            Input::Resource,
            resource.escape_debug()
        )))
    }
}

/// Azure.Identity's tenant character set: `[0-9a-zA-Z-.]`.
fn validate_tenant(tenant: &str) -> Result<String> {
    if tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        Ok(tenant.to_string())
    } else {
        Err(Error::invalid_argument(format!(
            "{} '{}' is not a tenant id or domain name",
            Input::TenantId,
            tenant.escape_debug()
        )))
    }
}

/// The CLI signs in by itself: no application id, and the authority's tenant is not its own.
impl super::sign_in::SignInFlow for AzureCliCredential {
    fn auth_type(&self) -> &'static str {
        SOURCE
    }

    fn client_id(&self) -> Option<&str> {
        None
    }

    fn uses_authority(&self) -> bool {
        false
    }

    fn token_for<'a>(
        &'a self,
        _entra: &'a super::EntraClient,
        clock: &'a dyn Clock,
        resource: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.get_token(clock, resource))
    }
}

/// The Azure CLI's signed-in account (`-TenantId` passed on), found on the host's PATH and
/// bounded by `-TimeoutSec` when given.
pub(crate) fn sign_in(inputs: &SignInInputs<'_>) -> Result<Signed> {
    let mut flow = AzureCliCredential::new(inputs.tenant.as_deref())?;
    if let Some(timeout) = inputs.timeout {
        flow = flow.with_timeout(timeout);
    }
    if let Some(path) = inputs.env.var("PATH") {
        flow = flow.with_search_path(path);
    }
    // The authority is not used (az signs in itself) but -Environment still picks the endpoints.
    let entra = inputs.entra(inputs.explicit_host.clone(), DEFAULT_DELEGATED_TENANT)?;
    Ok((inputs.credential(entra, Box::new(flow))?, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    use crate::clock::{FakeClock, SystemClock};
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    /// A directory with a stand-in `az` script; removed on drop. Unix only: the stand-in is a
    /// `#!/bin/sh` script made executable with a mode bit; Windows runs `az.cmd` through
    /// cmd.exe instead (the Windows tests below).
    #[cfg(unix)]
    struct FakeAz(PathBuf);
    #[cfg(unix)]
    impl FakeAz {
        fn new(script: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("mi-az-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let az = dir.join("az");
            std::fs::write(&az, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
            Self(dir)
        }
        fn credential(&self, tenant: Option<&str>) -> AzureCliCredential {
            let mut path = OsString::from(&self.0);
            path.push(":/usr/bin:/bin");
            AzureCliCredential::new(tenant)
                .unwrap()
                .with_search_path(path)
        }
    }
    #[cfg(unix)]
    impl Drop for FakeAz {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn runs_az_without_a_shell_and_parses_its_token() {
        // The stand-in echoes its arguments into the token so the test can check them.
        let az = FakeAz::new(
            r#"printf '{"accessToken":"tok %s","expires_on":4102444800,"tokenType":"Bearer"}' "$*""#,
        );
        let token = az
            .credential(Some("contoso.onmicrosoft.com"))
            .get_token(&SystemClock, "https://management.azure.com/.default")
            .await
            .unwrap();
        assert_eq!(
            token.secret.expose(),
            "tok account get-access-token --output json --resource https://management.azure.com --tenant contoso.onmicrosoft.com"
        );
        assert_eq!(token.expires_on, 4_102_444_800);
        assert_eq!(token.resource, "https://management.azure.com");
        assert_eq!(token.source, Some(SOURCE));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn not_logged_in_missing_and_hung_az_are_clear_errors() {
        let az = FakeAz::new(
            "echo \"ERROR: Please run 'az login' to setup account.\" >&2; echo '{\"accessToken\":\"leak\"}'; exit 1",
        );
        let e = az
            .credential(None)
            .get_token(&SystemClock, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(e.message.contains("az login"), "{}", e.message);
        assert!(!e.message.contains("leak"));

        let empty = std::env::temp_dir().join(format!("mi-noaz-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&empty).unwrap();
        let e = AzureCliCredential::new(None)
            .unwrap()
            .with_search_path(&empty)
            .get_token(&SystemClock, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        std::fs::remove_dir_all(&empty).ok();
        assert_eq!(e.kind, ErrorKind::EndpointUnavailable);
        assert!(e.message.contains("not found on PATH"), "{}", e.message);

        let hung = FakeAz::new("exec sleep 600");
        let clock = FakeClock::at_unix(1_800_000_000);
        let e = hung
            .credential(None)
            .with_timeout(Duration::from_secs(7))
            .get_token(&clock, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn arguments_are_validated_before_az_runs() {
        let az = FakeAz::new("touch \"$0.ran\"; exit 1");
        let cred = az.credential(None);
        let e = cred
            .get_token(&SystemClock, "https://x/ & calc.exe")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(AzureCliCredential::new(Some("t;rm -rf")).is_err());
        assert!(!az.0.join("az.ran").exists());
    }

    /// A directory with a stand-in `az.cmd` (the Azure CLI's launcher on Windows, which Windows
    /// runs through cmd.exe); removed on drop.
    #[cfg(windows)]
    struct FakeAzCmd(PathBuf);
    #[cfg(windows)]
    impl FakeAzCmd {
        fn new(lines: &[&str]) -> Self {
            let dir = std::env::temp_dir().join(format!("mi-az-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut script = String::from("@echo off\r\n");
            for line in lines {
                script.push_str(line);
                script.push_str("\r\n");
            }
            std::fs::write(dir.join("az.cmd"), script).unwrap();
            Self(dir)
        }
        fn credential(&self, tenant: Option<&str>) -> AzureCliCredential {
            AzureCliCredential::new(tenant)
                .unwrap()
                .with_search_path(self.0.as_os_str())
        }
    }
    #[cfg(windows)]
    impl Drop for FakeAzCmd {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    #[cfg(windows)]
    #[tokio::test]
    async fn windows_runs_az_cmd_and_parses_its_token() {
        use crate::clock::SystemClock;
        // The stand-in writes its arguments into the token so the test can check them.
        let az = FakeAzCmd::new(&[
            r#"echo {"accessToken":"tok %*","expires_on":4102444800,"tokenType":"Bearer"}"#,
        ]);
        let token = az
            .credential(Some("contoso.onmicrosoft.com"))
            .get_token(&SystemClock, "https://management.azure.com/.default")
            .await
            .unwrap();
        assert_eq!(
            token.secret.expose(),
            "tok account get-access-token --output json --resource https://management.azure.com --tenant contoso.onmicrosoft.com"
        );
        assert_eq!(token.expires_on, 4_102_444_800);
    }

    #[cfg(windows)]
    #[tokio::test]
    async fn windows_az_cmd_errors_are_clear_and_never_leak_stdout() {
        use crate::clock::SystemClock;
        let az = FakeAzCmd::new(&[
            "echo ERROR: Please run 'az login' to setup account. 1>&2",
            r#"echo {"accessToken":"leak"}"#,
            "exit /b 1",
        ]);
        let e = az
            .credential(None)
            .get_token(&SystemClock, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed, "{}", e.message);
        assert!(e.message.contains("az login"), "{}", e.message);
        assert!(!e.message.contains("leak"));
    }

    /// cmd.exe re-parses a batch file's command line (`&`, `|`, `%`…): arguments are validated
    /// before az.cmd ever runs, so nothing can be injected through it.
    #[cfg(windows)]
    #[tokio::test]
    async fn windows_arguments_are_validated_before_az_cmd_runs() {
        use crate::clock::SystemClock;
        let az = FakeAzCmd::new(&["echo ran> \"%~dp0az.ran\"", "exit /b 1"]);
        for resource in [
            "https://x/ & calc.exe",
            "https://x/%PATH%",
            "https://x/\" | calc",
            "https://x/^&calc",
        ] {
            let e = az
                .credential(None)
                .get_token(&SystemClock, resource)
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{resource}");
        }
        assert!(AzureCliCredential::new(Some("t&calc")).is_err());
        assert!(!az.0.join("az.ran").exists(), "az.cmd never ran");
    }

    #[test]
    fn output_parsing() {
        let now = 1_800_000_000;
        let t = parse_cli_output(
            br#"{"accessToken":"a","expires_on":"1800003600"}"#,
            "r",
            now,
        )
        .unwrap();
        assert_eq!(t.expires_on, 1_800_003_600);
        let jwt = crate::jwt::unsigned(&serde_json::json!({"exp": 1_800_001_000u64}));
        let body = format!(r#"{{"accessToken":"{jwt}","expiresOn":"2027-01-15 10:00:00.000000"}}"#);
        assert_eq!(
            parse_cli_output(body.as_bytes(), "r", now)
                .unwrap()
                .expires_on,
            1_800_001_000
        );
        assert!(parse_cli_output(br#"{"accessToken":"a","expires_on":1}"#, "r", now).is_err());
        assert!(parse_cli_output(b"not json", "r", now).is_err());
        assert!(parse_cli_output(br#"{"expires_on":1900000000}"#, "r", now).is_err());
        assert_eq!(
            cli_error("ERROR: boom\nmore\nthird").message,
            "the Azure CLI failed to get a token: ERROR: boom more"
        );
    }
}
