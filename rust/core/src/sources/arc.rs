//! Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the himds agent on disk): protocol spec
//! §2.5 and §7. The first GET (with `Metadata: true`) is answered 401 with
//! `WWW-Authenticate: Basic realm=<key file>`; the client reads that file and repeats the GET with
//! `Authorization: Basic <file contents>`. Arc serves only the machine's system-assigned identity.
//!
//! The challenge comes from whatever listens on the endpoint, so the file it names is checked as
//! strictly as the strictest reference client before a byte of it is read: an absolute path
//! without `.` or `..`, ending in `.key`, whose canonical path (symbolic links resolved) lies
//! directly in the agent's token directory (itself canonicalised), naming a regular file of at
//! most 4096 bytes. Anything else is refused with `UnsafeKeyFile`; then nothing is read and no
//! second request is sent. The key is a [`Secret`] and never appears in any message.

use std::fmt::Debug;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use url::Url;

use super::diagnostics::explain_missing;
use super::redact::truncate;
use super::selection::Vars;
use super::{PreparedRequest, SourceKind, SourceReport};
use crate::env::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// Default endpoint of the Arc agent when only its binary was found.
pub const ARC_DEFAULT_ENDPOINT: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
/// Test hook and override: the path of the Arc agent binary to look for.
pub const HIMDS_PATH_VARIABLE: &str = "MANAGEDIDENTITY_HIMDS_PATH";
/// Test hook only: the agent's token directory. Real agents always use the fixed directory of
/// [`token_directory`]; the name says so, so nobody sets it by accident.
pub const TOKEN_DIRECTORY_TEST_VARIABLE: &str = "MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY";
/// MSAL.NET's and MSAL for Python's `ArcApiVersion`.
pub const API_VERSION: &str = "2020-06-01";
/// Largest key file accepted (every reference client's limit).
pub const MAX_KEY_BYTES: u64 = 4096;
/// Resource of the availability probe (sent without `Metadata`, so it never issues a token).
const PROBE_RESOURCE: &str = "https://management.azure.com";

/// Where the Arc agent binary lives on this OS (or where the test hook says).
pub fn himds_path(env: &dyn Environment) -> String {
    if let Some(path) = env.var(HIMDS_PATH_VARIABLE) {
        return path;
    }
    if cfg!(windows) {
        let program_files = env
            .var("ProgramFiles")
            .unwrap_or_else(|| "C:\\Program Files".to_string());
        format!("{program_files}\\AzureConnectedMachineAgent\\himds.exe")
    } else {
        "/opt/azcmagent/bin/himds".to_string()
    }
}

/// The agent's token directory: `%ProgramData%\AzureConnectedMachineAgent\Tokens` on Windows,
/// `/var/opt/azcmagent/tokens` elsewhere; `true` when the test-only variable replaced it.
pub fn token_directory(env: &dyn Environment) -> (PathBuf, bool) {
    if let Some(dir) = env.var(TOKEN_DIRECTORY_TEST_VARIABLE) {
        return (PathBuf::from(dir), true);
    }
    let dir = if cfg!(windows) {
        let program_data = env
            .var("ProgramData")
            .unwrap_or_else(|| "C:\\ProgramData".to_string());
        format!("{program_data}\\AzureConnectedMachineAgent\\Tokens")
    } else {
        "/var/opt/azcmagent/tokens".to_string()
    };
    (PathBuf::from(dir), false)
}

/// The file operations the key check needs; [`RealKeyFiles`] in production, a recording
/// wrapper in tests (to prove a refused file is never read).
pub trait KeyFiles: Debug + Send + Sync {
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf>;
    /// `(is a regular file, length)` without opening the file's contents.
    fn metadata(&self, path: &Path) -> std::io::Result<(bool, u64)>;
    /// At most `limit` bytes; an error if the file is longer (it may have grown since
    /// [`KeyFiles::metadata`]) or is not a regular file.
    fn read(&self, path: &Path, limit: u64) -> std::io::Result<Vec<u8>>;
}

#[derive(Debug, Default)]
pub struct RealKeyFiles;

impl KeyFiles for RealKeyFiles {
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn metadata(&self, path: &Path) -> std::io::Result<(bool, u64)> {
        let m = std::fs::metadata(path)?;
        Ok((m.is_file(), m.len()))
    }

    fn read(&self, path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
        let file = std::fs::File::open(path)?;
        let m = file.metadata()?;
        if !m.is_file() || m.len() > limit {
            return Err(std::io::Error::other(
                "the file changed while it was checked",
            ));
        }
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(std::io::Error::other("the file grew while it was read"));
        }
        Ok(bytes)
    }
}

#[derive(Debug, Clone)]
pub struct ArcSource {
    endpoint: Url,
    token_directory: PathBuf,
    directory_overridden: bool,
    files: Arc<dyn KeyFiles>,
}

impl ArcSource {
    /// `endpoint` is IDENTITY_ENDPOINT (or the agent's default); the token directory comes from
    /// [`token_directory`].
    pub fn new(endpoint: &str, env: &dyn Environment) -> Result<Self> {
        let url = super::endpoint_url(
            endpoint,
            "IDENTITY_ENDPOINT",
            super::Schemes::HttpOrHttps,
            None,
        )?;
        let (token_directory, directory_overridden) = token_directory(env);
        Ok(Self {
            endpoint: url,
            token_directory,
            directory_overridden,
            files: Arc::new(RealKeyFiles),
        })
    }

    /// The same source over other file operations (tests).
    pub fn with_files(mut self, files: Arc<dyn KeyFiles>) -> Self {
        self.files = files;
        self
    }

    /// The same source with another token directory (tests).
    pub fn with_token_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.token_directory = dir.into();
        self.directory_overridden = true;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn token_directory(&self) -> &Path {
        &self.token_directory
    }

    /// True when the test-only variable chose the token directory.
    pub fn is_directory_overridden(&self) -> bool {
        self.directory_overridden
    }

    /// Leg 1: the token GET with `Metadata: true` and no `Authorization`.
    pub(crate) fn prepare(&self, resource: &str) -> PreparedRequest {
        let url = super::token_url(&self.endpoint, API_VERSION, resource, None);
        let mut headers = HeaderMap::new();
        headers.insert("Metadata", HeaderValue::from_static("true"));
        PreparedRequest::get(url, headers)
    }

    /// Leg 2: `first` again with `Authorization: Basic <key>` (the raw file contents).
    pub(crate) fn authorize(
        &self,
        first: &PreparedRequest,
        key: &Secret,
    ) -> Result<PreparedRequest> {
        let mut value = HeaderValue::from_str(&format!("Basic {}", key.expose())).map_err(|_| {
            Error::new(
                ErrorKind::InvalidResponse,
                "the Azure Arc agent's key file holds characters that cannot travel in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        let mut headers = first.headers.clone();
        headers.insert(AUTHORIZATION, value);
        Ok(PreparedRequest::get(first.url.clone(), headers))
    }

    /// The availability probe: a GET without `Metadata` (the agent refuses it without a challenge).
    pub fn probe_url(&self) -> Url {
        super::token_url(&self.endpoint, API_VERSION, PROBE_RESOURCE, None)
    }

    /// Checks the file the challenge names and only then reads it (see the module comment).
    pub(crate) fn read_key(&self, realm: &str) -> Result<Secret> {
        let shown_path = truncate(realm, 260);
        let refuse = |why: String| {
            Error::new(
                ErrorKind::UnsafeKeyFile,
                format!(
                    "The Azure Arc endpoint {} asked for the key file '{shown_path}', which {why}. The file was not read \
                     and no key was sent: only a .key file of at most {MAX_KEY_BYTES} bytes directly in the agent's \
                     token directory {} is trusted.",
                    super::redact::display_url(&self.endpoint),
                    self.token_directory.display()
                ),
            )
            .with_details(serde_json::json!({"source": SourceKind::Arc.name(), "keyFile": shown_path}))
        };
        let path = Path::new(realm);
        if !path.is_absolute() {
            return Err(refuse("is not an absolute path".into()));
        }
        // Textually: `Path::components` silently drops inner `.` segments.
        if realm
            .split(['/', '\\'])
            .any(|seg| seg == "." || seg == "..")
            || path.components().any(|c| matches!(c, Component::ParentDir))
        {
            return Err(refuse("contains '.' or '..' segments".into()));
        }
        if !has_key_extension(path) {
            return Err(refuse("does not have the .key extension".into()));
        }
        let directory = self
            .files
            .canonicalize(&self.token_directory)
            .map_err(|e| {
                refuse(format!(
                    "cannot be checked because the token directory is not accessible ({e})"
                ))
            })?;
        let canonical = self
            .files
            .canonicalize(path)
            .map_err(|e| refuse(format!("cannot be resolved ({e})")))?;
        if canonical.parent() != Some(directory.as_path()) {
            return Err(refuse(format!(
                "resolves to '{}', outside the token directory",
                canonical.display()
            )));
        }
        if !has_key_extension(&canonical) {
            return Err(refuse(format!(
                "resolves to '{}', which does not have the .key extension",
                canonical.display()
            )));
        }
        let (is_file, len) = self
            .files
            .metadata(&canonical)
            .map_err(|e| refuse(format!("cannot be inspected ({e})")))?;
        if !is_file {
            return Err(refuse("is not a regular file".into()));
        }
        if len > MAX_KEY_BYTES {
            return Err(refuse(format!("is {len} bytes long")));
        }
        let bytes = self
            .files
            .read(&canonical, MAX_KEY_BYTES)
            .map_err(|e| refuse(format!("cannot be read safely ({e})")))?;
        let key = String::from_utf8(bytes).map_err(|_| refuse("is not text".into()))?;
        if key.is_empty() {
            return Err(refuse("is empty".into()));
        }
        Ok(Secret::new(key))
    }
}

fn has_key_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "key")
}

/// The key file a 401 names: `WWW-Authenticate: Basic realm=<path>` (the value may be quoted;
/// everything after `realm=` is the path, as MSAL and the Rust SDK read it). `target` names the
/// endpoint in the errors.
pub(crate) fn challenge_realm(headers: &HeaderMap, target: &str) -> Result<String> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!(
                "{target} answered HTTP 401 {what}, so it names no key file; no second request was sent. \
                 Is this an Azure Arc agent?"
            ),
        )
        .with_details(serde_json::json!({"status": 401, "source": SourceKind::Arc.name()}))
    };
    let mut challenges = headers.get_all(WWW_AUTHENTICATE).iter().peekable();
    if challenges.peek().is_none() {
        return Err(invalid("without a WWW-Authenticate challenge"));
    }
    for value in challenges {
        let Ok(text) = value.to_str() else { continue };
        let text = text.trim();
        let Some((scheme, params)) = text.split_once(char::is_whitespace) else {
            continue;
        };
        if !scheme.eq_ignore_ascii_case("Basic") {
            continue;
        }
        let params = params.trim_start();
        let Some(("realm", value)) = params
            .split_once('=')
            .map(|(name, value)| (name.trim(), value.trim()))
            .filter(|(name, _)| name.eq_ignore_ascii_case("realm"))
            .map(|(_, value)| ("realm", value))
        else {
            continue;
        };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if !value.is_empty() {
            return Ok(value.to_string());
        }
    }
    Err(invalid("with a challenge that has no Basic realm"))
}

/// Arc: both variables, or the agent installed (the only detection that touches the disk).
pub fn detect(v: &Vars) -> SourceReport {
    let ie = v.identity_endpoint.is_some();
    let by_env = ie && v.imds_endpoint.is_some();
    let himds = himds_path(v.env);
    let installed = v.env.file_exists(&himds);
    let mut reason = if by_env {
        "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set".to_string()
    } else if installed {
        format!("the Azure Connected Machine agent is installed ({himds})")
    } else {
        format!(
            "{} and the Azure Connected Machine agent ({himds}) is not installed",
            explain_missing(&[
                ("IDENTITY_ENDPOINT", ie),
                ("IMDS_ENDPOINT", v.imds_endpoint.is_some())
            ])
        )
    };
    if (by_env || installed) && v.env.var(TOKEN_DIRECTORY_TEST_VARIABLE).is_some() {
        reason.push_str(&format!(
            "; {TOKEN_DIRECTORY_TEST_VARIABLE} replaces the agent's token directory (for tests only)"
        ));
    }
    SourceReport::new(
        SourceKind::Arc,
        by_env || installed,
        if by_env {
            v.identity_endpoint_shown()
        } else {
            installed.then(|| ARC_DEFAULT_ENDPOINT.to_string())
        },
        reason,
    )
}

/// The Arc source detection builds: IDENTITY_ENDPOINT when both variables are set, otherwise
/// the agent's default endpoint.
pub(crate) fn from_vars(v: &Vars) -> Result<ArcSource> {
    let endpoint = match (&v.identity_endpoint, &v.imds_endpoint) {
        (Some(endpoint), Some(_)) => endpoint.as_str(),
        _ => ARC_DEFAULT_ENDPOINT,
    };
    ArcSource::new(endpoint, v.env)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use super::*;

    /// The real file system, recording every read.
    #[derive(Debug, Default)]
    pub struct RecordingFiles {
        pub reads: Mutex<Vec<PathBuf>>,
    }

    impl RecordingFiles {
        pub fn reads(&self) -> Vec<PathBuf> {
            self.reads.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    impl KeyFiles for RecordingFiles {
        fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
            RealKeyFiles.canonicalize(path)
        }
        fn metadata(&self, path: &Path) -> std::io::Result<(bool, u64)> {
            RealKeyFiles.metadata(path)
        }
        fn read(&self, path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
            self.reads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(path.to_path_buf());
            RealKeyFiles.read(path, limit)
        }
    }

    /// A fresh directory under the system's temporary directory, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "mi-core-{tag}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(std::fs::canonicalize(&dir).expect("canonical temp dir"))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl super::ManagedIdentitySource for ArcSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Arc
    }

    fn token_endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn token_request(&self, resource: &str, _id: Option<(&str, &str)>) -> Result<PreparedRequest> {
        Ok(self.prepare(resource))
    }

    fn probe_request(&self) -> PreparedRequest {
        PreparedRequest::get(self.probe_url(), HeaderMap::new())
    }

    fn unreachable_hint(&self) -> &'static str {
        "The Azure Connected Machine agent (himds) does not answer: check that the agent service runs \
         (azcmagent show). Run Test-IdentityEndpoint to see what was detected."
    }

    fn status_meaning(&self, status: u16) -> Option<(ErrorKind, &'static str)> {
        matches!(status, 401 | 403).then_some((
            ErrorKind::AuthenticationFailed,
            "refused the key from the Azure Arc agent's key file (it is valid once and for a few minutes)",
        ))
    }

    /// The 401 challenge names a key file; it is checked (and only then read) by
    /// [`ArcSource::read_key`], then the request is repeated with the key.
    fn answer_challenge(
        &self,
        challenge: &crate::http::HttpResponse,
        request: &PreparedRequest,
        target: &str,
    ) -> Option<Result<(Secret, PreparedRequest)>> {
        (challenge.status == 401).then(|| {
            challenge_realm(&challenge.headers, target)
                .and_then(|realm| self.read_key(&realm))
                .and_then(|key| self.authorize(request, &key).map(|request| (key, request)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{RecordingFiles, TempDir};
    use super::*;
    use crate::env::MapEnvironment;

    fn source(dir: &Path, files: Arc<RecordingFiles>) -> ArcSource {
        ArcSource::new(
            "http://127.0.0.1:9/metadata/identity/oauth2/token",
            &MapEnvironment::new(),
        )
        .expect("arc")
        .with_token_directory(dir)
        .with_files(files)
    }

    #[test]
    fn token_directory_is_fixed_unless_the_test_variable_says_otherwise() {
        let (dir, overridden) = token_directory(&MapEnvironment::new());
        assert!(!overridden);
        if cfg!(windows) {
            assert_eq!(
                dir,
                PathBuf::from("C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens")
            );
        } else {
            assert_eq!(dir, PathBuf::from("/var/opt/azcmagent/tokens"));
        }
        let env = MapEnvironment::new().with(TOKEN_DIRECTORY_TEST_VARIABLE, "/tmp/x");
        assert_eq!(token_directory(&env), (PathBuf::from("/tmp/x"), true));
        // Set but empty counts as unset.
        let env = MapEnvironment::new().with(TOKEN_DIRECTORY_TEST_VARIABLE, "");
        assert!(!token_directory(&env).1);
    }

    #[test]
    fn request_shapes_of_both_legs() {
        let s = ArcSource::new(
            "http://127.0.0.1:40342/metadata/identity/oauth2/token",
            &MapEnvironment::new(),
        )
        .expect("arc");
        let first = s.prepare("https://vault.azure.net");
        assert_eq!(
            first.url.as_str(),
            "http://127.0.0.1:40342/metadata/identity/oauth2/token?api-version=2020-06-01&resource=https%3A%2F%2Fvault.azure.net"
        );
        assert_eq!(first.headers["metadata"], "true");
        assert!(first.headers.get(AUTHORIZATION).is_none());
        let second = s.authorize(&first, &Secret::new("k3y")).expect("leg 2");
        assert_eq!(second.url, first.url);
        assert_eq!(second.headers["authorization"], "Basic k3y");
        assert!(second.headers["authorization"].is_sensitive());
        assert_eq!(second.headers["metadata"], "true");
        assert!(s.authorize(&first, &Secret::new("a\nb")).is_err());
        assert!(!s.probe_url().as_str().contains("k3y"));
        assert!(ArcSource::new("not a url", &MapEnvironment::new()).is_err());
    }

    #[test]
    fn challenges_are_parsed_strictly() {
        let parse = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).expect("value"));
            }
            challenge_realm(&h, "the endpoint")
        };
        assert_eq!(
            parse(&["Basic realm=/var/opt/azcmagent/tokens/a.key"]).expect("ok"),
            "/var/opt/azcmagent/tokens/a.key"
        );
        assert_eq!(
            parse(&["basic realm=\"C:\\x\\a.key\""]).expect("ok"),
            "C:\\x\\a.key"
        );
        assert_eq!(
            parse(&["Bearer x", "Basic  realm = /t/a.key "]).expect("ok"),
            "/t/a.key"
        );
        for bad in [
            &[][..],
            &["Basic"],
            &["Basic realm="],
            &["Bearer realm=/t/a.key"],
            &["Basic charset=x"],
        ] {
            let e = parse(bad).expect_err("no realm");
            assert_eq!(e.kind, ErrorKind::InvalidResponse, "{bad:?}");
            assert!(e.message.contains("no second request was sent"));
        }
    }

    #[test]
    fn a_key_in_the_token_directory_is_read() {
        let dir = TempDir::new("arc-ok");
        let file = dir.0.join("0f3c.key");
        std::fs::write(&file, "a1b2c3").expect("write");
        let files = Arc::new(RecordingFiles::default());
        let key = source(&dir.0, files.clone())
            .read_key(file.to_str().expect("utf-8"))
            .expect("key");
        assert_eq!(key.expose(), "a1b2c3");
        assert_eq!(files.reads(), vec![file.clone()]);
        // Exactly 4096 bytes is still accepted.
        std::fs::write(&file, "k".repeat(4096)).expect("write");
        assert_eq!(
            source(&dir.0, files.clone())
                .read_key(file.to_str().expect("utf-8"))
                .expect("4096")
                .expose()
                .len(),
            4096
        );
    }

    /// Every refusal: the right error, and the file never read.
    #[test]
    fn unsafe_key_files_are_refused_without_being_read() {
        let dir = TempDir::new("arc-tokens");
        let outside = TempDir::new("arc-outside");
        let secret = "0123456789abcdef-outside-secret";
        let outside_key = outside.0.join("stolen.key");
        std::fs::write(&outside_key, secret).expect("write");
        std::fs::write(dir.0.join("wrong.txt"), secret).expect("write");
        std::fs::write(dir.0.join("big.key"), "k".repeat(4097)).expect("write");
        std::fs::create_dir(dir.0.join("sub.key")).expect("dir");
        std::fs::create_dir(dir.0.join("nested")).expect("dir");
        std::fs::write(dir.0.join("nested").join("deep.key"), secret).expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside_key, dir.0.join("link.key")).expect("symlink");
        // Realms as the agent writes them, with this platform's separator: on Windows the
        // canonical directory is a verbatim path (\\?\C:\...), where '/' is no separator.
        let d = dir.0.display().to_string();
        let o = outside.0.display().to_string();
        let s = std::path::MAIN_SEPARATOR;
        let mut cases = vec![
            (
                outside_key.display().to_string(),
                "outside the token directory",
            ),
            (
                format!(
                    "{d}{s}..{s}{}{s}stolen.key",
                    outside
                        .0
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("name")
                ),
                "'..'",
            ),
            (format!("{d}{s}.{s}wrong.key"), "'..'"),
            (format!("{d}{s}wrong.txt"), ".key extension"),
            (format!("{d}{s}big.key"), "4097 bytes"),
            (format!("{d}{s}missing.key"), "cannot be resolved"),
            (format!("{d}{s}sub.key"), "not a regular file"),
            (
                format!("{d}{s}nested{s}deep.key"),
                "outside the token directory",
            ),
            ("relative/a.key".to_string(), "not an absolute path"),
            (format!("{o}{s}stolen.key"), "outside the token directory"),
        ];
        if cfg!(unix) {
            cases.push((format!("{d}{s}link.key"), "outside the token directory"));
        }
        for (realm, why) in cases {
            let files = Arc::new(RecordingFiles::default());
            let e = source(&dir.0, files.clone())
                .read_key(&realm)
                .expect_err(&realm);
            assert_eq!(e.kind, ErrorKind::UnsafeKeyFile, "{realm}");
            assert!(e.message.contains(why), "{realm}: {}", e.message);
            assert!(e.message.contains("was not read"), "{}", e.message);
            assert!(!e.message.contains(secret));
            assert!(files.reads().is_empty(), "{realm} was read");
        }
        // A token directory that does not exist refuses everything.
        let files = Arc::new(RecordingFiles::default());
        let e = source(&dir.0.join("absent"), files.clone())
            .read_key(&format!("{d}{s}absent{s}a.key"))
            .expect_err("no directory");
        assert_eq!(e.kind, ErrorKind::UnsafeKeyFile);
        assert!(files.reads().is_empty());
    }

    #[test]
    fn detection_names_the_test_override() {
        let env = MapEnvironment::new()
            .with(
                "IDENTITY_ENDPOINT",
                "http://127.0.0.1:1/arc/metadata/identity/oauth2/token",
            )
            .with("IMDS_ENDPOINT", "http://127.0.0.1:1/arc")
            .with(TOKEN_DIRECTORY_TEST_VARIABLE, "/tmp/t");
        let v = Vars::read(&env);
        let row = detect(&v);
        assert!(row.detected);
        assert!(
            row.reason.contains(TOKEN_DIRECTORY_TEST_VARIABLE),
            "{}",
            row.reason
        );
        let s = from_vars(&v).expect("arc");
        assert!(s.is_directory_overridden());
        assert_eq!(s.endpoint().port(), Some(1));
    }
}
