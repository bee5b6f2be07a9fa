//! Azure Arc (hybrid machines, Arc-enabled Automation hybrid workers): the HIMDS agent's
//! two-leg handshake on `GET /arc/metadata/identity/oauth2/token`.
//!
//! Leg 1 (no `Authorization`): the agent writes a random key into a new `<guid>.key` file in its
//! token directory and answers 401 `WWW-Authenticate: Basic realm=<absolute path of the file>`.
//! Leg 2 (`Authorization: Basic <exact file contents>`): 200 with an IMDS-shaped body. A key is
//! accepted once, within `arcKeyLifetimeSecs` of its challenge; its file is then removed.
//!
//! User-assigned identities are honoured and echoed as agents from 1.67 on do: `client_id`,
//! `object_id` or `msi_res_id` selects an attached identity of the machine, and the success body
//! names the identity used (`client_id`, and for a user-assigned one `object_id` and
//! `msi_res_id`), which MSAL and azure-identity check before trusting the token. `mi_res_id` is
//! not an Arc parameter: like the agent, the emulator ignores it (system identity, no echo).
//!
//! The challenge mode makes the realm misbehave so clients' key-file checks can be tested: the
//! file it names always holds a key the emulator would accept, so a client that reads it and
//! sends it shows up in the stats (`arcWithKey`) and gets a token.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::managed_identity::{self, Refusal, Selector};
use crate::state::{lock, App};
use crate::util::{param, Req, Resp};

/// Path of the Arc token route (the agent's own path under an `/arc` prefix).
pub const PATH: &str = "/arc/metadata/identity/oauth2/token";
/// `IMDS_ENDPOINT` a client sets for Arc (relative to the base URL).
pub const IMDS_PREFIX: &str = "/arc";
/// api-versions clients send (MSAL 2020-06-01, AzId legacy 2019-11-01, Rust 2021-02-01).
const API_VERSIONS: &[&str] = &["2019-08-15", "2019-11-01", "2020-06-01", "2021-02-01"];
/// Clients refuse key files larger than this; the `oversize` mode writes one byte more.
pub const MAX_KEY_FILE: usize = 4096;

/// Where the realm of the 401 challenge points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChallengeMode {
    /// `<token dir>/<guid>.key`, as the agent does.
    #[default]
    Valid,
    /// A `.key` file in another directory.
    OutsideDirectory,
    /// `<token dir>/../…/<guid>.key`: textually under the token directory, really outside it.
    DotDot,
    /// `<token dir>/<guid>.key` is a symbolic link to a key file outside the directory.
    Symlink,
    /// `<token dir>/<guid>/<guid>.key` where `<token dir>/<guid>` is a symbolic link (a
    /// junction's stand-in) to the outside directory.
    LinkedDirectory,
    /// The valid key file named by a UNC path: `\\localhost\C$\…\<guid>.key` for a file
    /// clients see on a drive, `//localhost/…` otherwise.
    Unc,
    /// `<token dir>/<guid>.txt`.
    WrongExtension,
    /// `<token dir>/<guid>.key` of 4097 bytes (the whole file is the key).
    Oversize,
    /// `WWW-Authenticate: Basic` without a realm (no file is written).
    NoRealm,
    /// 401 without any `WWW-Authenticate` header (no file is written).
    NoChallenge,
}

impl ChallengeMode {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// How clients name local paths (see `EmulatorConfig::client_paths`): `(local directory,
/// the client's name for it)`, the longest matching directory first. A client's name is a
/// Windows path: the rest of the local path follows it joined with `\\`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPaths(Vec<(PathBuf, String)>);

impl ClientPaths {
    /// Adds `local=client` (as given to `--client-path`).
    pub fn add(&mut self, mapping: &str) -> Result<(), String> {
        let (local, client) = mapping
            .split_once('=')
            .filter(|(l, c)| !l.is_empty() && !c.is_empty())
            .ok_or_else(|| {
                format!("--client-path needs LOCAL_DIRECTORY=CLIENT_NAME, not '{mapping}'")
            })?;
        self.0.push((PathBuf::from(local), client.to_string()));
        self.0
            .sort_by_key(|(l, _)| std::cmp::Reverse(l.components().count()));
        Ok(())
    }

    /// The client's name for `path`.
    pub fn show(&self, path: &Path) -> String {
        for (local, client) in &self.0 {
            if let Ok(rest) = path.strip_prefix(local) {
                let mut shown = client.clone();
                for c in rest.components() {
                    if !shown.ends_with('\\') {
                        shown.push('\\');
                    }
                    shown.push_str(&c.as_os_str().to_string_lossy());
                }
                return shown;
            }
        }
        path.display().to_string()
    }

    /// The local path of a client's name (case-insensitive, as Windows names are), or `name`
    /// itself when no mapping matches.
    pub fn local(&self, name: &str) -> PathBuf {
        for (local, client) in &self.0 {
            let prefix = client.trim_end_matches('\\');
            let Some(head) = name.get(..prefix.len()) else {
                continue;
            };
            let rest = &name[prefix.len()..];
            if head.eq_ignore_ascii_case(prefix) && (rest.is_empty() || rest.starts_with('\\')) {
                let mut p = local.clone();
                p.extend(rest.split('\\').filter(|s| !s.is_empty()));
                return p;
            }
        }
        PathBuf::from(name)
    }
}

struct Key {
    created: Instant,
    /// Files to remove once the key is used, expired or withdrawn.
    files: Vec<PathBuf>,
}

/// The agent's token directory, a directory "outside" it (for the attack modes), and the keys
/// handed out and not yet used.
pub struct ArcState {
    token_dir: PathBuf,
    outside_dir: PathBuf,
    /// Keeps the temporary directories alive; they are removed on drop.
    _temp: Vec<tempfile::TempDir>,
    keys: HashMap<Vec<u8>, Key>,
    client_paths: ClientPaths,
}

/// Canonical form of a directory (symlinks resolved) on Unix; Windows keeps the absolute path
/// (canonicalize would add a `\\?\` prefix no client expects).
fn canonical_dir(p: &Path) -> io::Result<PathBuf> {
    if cfg!(windows) {
        std::path::absolute(p)
    } else {
        p.canonicalize()
    }
}

fn restrict(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let _ = dir;
    Ok(())
}

fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl ArcState {
    /// Uses `token_dir` (created if missing) or a fresh temporary directory.
    pub fn new(token_dir: Option<&Path>) -> io::Result<Self> {
        let mut temp = Vec::new();
        let token_dir = match token_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                canonical_dir(d)?
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("mi-emulator-arc-tokens-")
                    .tempdir()?;
                let d = canonical_dir(t.path())?;
                temp.push(t);
                d
            }
        };
        restrict(&token_dir)?;
        let outside = tempfile::Builder::new()
            .prefix("mi-emulator-arc-outside-")
            .tempdir()?;
        let outside_dir = canonical_dir(outside.path())?;
        temp.push(outside);
        Ok(ArcState {
            token_dir,
            outside_dir,
            _temp: temp,
            keys: HashMap::new(),
            client_paths: ClientPaths::default(),
        })
    }

    /// Names the key files in challenges as `paths` says clients see them.
    pub fn with_client_paths(mut self, paths: ClientPaths) -> Self {
        self.client_paths = paths;
        self
    }

    pub fn token_dir(&self) -> &Path {
        &self.token_dir
    }

    /// Withdraws every outstanding key and removes its files.
    pub fn forget_keys(&mut self) {
        for (_, key) in self.keys.drain() {
            remove_files(&key.files);
        }
    }

    fn expire(&mut self, lifetime: Duration) {
        let stale: Vec<Vec<u8>> = self
            .keys
            .iter()
            .filter(|(_, k)| k.created.elapsed() >= lifetime)
            .map(|(v, _)| v.clone())
            .collect();
        for v in stale {
            if let Some(k) = self.keys.remove(&v) {
                remove_files(&k.files);
            }
        }
    }

    /// Writes a key for `mode`; returns the `WWW-Authenticate` value (None = no header).
    fn challenge(&mut self, mode: ChallengeMode, lifetime: Duration) -> io::Result<Option<String>> {
        self.expire(lifetime);
        let name = uuid::Uuid::new_v4().to_string();
        let mut key = random_hex().into_bytes();
        let mut files = Vec::new();
        let realm = match mode {
            ChallengeMode::NoRealm => return Ok(Some("Basic".to_string())),
            ChallengeMode::NoChallenge => return Ok(None),
            ChallengeMode::Valid => {
                let p = self.token_dir.join(format!("{name}.key"));
                files.push(p.clone());
                p
            }
            ChallengeMode::LinkedDirectory => {
                let target_dir = self.outside_dir.join(&name);
                std::fs::create_dir(&target_dir)?;
                let target = target_dir.join(format!("{name}.key"));
                let link = self.token_dir.join(&name);
                write_key(&target, &key)?;
                symlink_dir(&target_dir, &link)?;
                // The link first: removing files in order leaves no dangling link.
                files.extend([link.clone(), target, target_dir]);
                self.keys.insert(
                    key,
                    Key {
                        created: Instant::now(),
                        files,
                    },
                );
                let shown = self.client_paths.show(&link.join(format!("{name}.key")));
                return Ok(Some(format!("Basic realm={shown}")));
            }
            ChallengeMode::Unc => {
                let p = self.token_dir.join(format!("{name}.key"));
                files.push(p.clone());
                write_key(&p, &key)?;
                self.keys.insert(
                    key,
                    Key {
                        created: Instant::now(),
                        files,
                    },
                );
                return Ok(Some(format!(
                    "Basic realm={}",
                    unc(&self.client_paths.show(&p))
                )));
            }
            ChallengeMode::WrongExtension => {
                let p = self.token_dir.join(format!("{name}.txt"));
                files.push(p.clone());
                p
            }
            ChallengeMode::Oversize => {
                key = key.iter().copied().cycle().take(MAX_KEY_FILE + 1).collect();
                let p = self.token_dir.join(format!("{name}.key"));
                files.push(p.clone());
                p
            }
            ChallengeMode::OutsideDirectory => {
                let p = self.outside_dir.join(format!("{name}.key"));
                files.push(p.clone());
                p
            }
            ChallengeMode::DotDot => {
                let target = self.outside_dir.join(format!("{name}.key"));
                files.push(target.clone());
                dot_dot_path(&self.token_dir, &target)
            }
            ChallengeMode::Symlink => {
                let target = self.outside_dir.join(format!("{name}.key"));
                let link = self.token_dir.join(format!("{name}.key"));
                files.push(target.clone());
                files.push(link.clone());
                write_key(&target, &key)?;
                symlink(&target, &link)?;
                self.keys.insert(
                    key,
                    Key {
                        created: Instant::now(),
                        files,
                    },
                );
                return Ok(Some(format!(
                    "Basic realm={}",
                    self.client_paths.show(&link)
                )));
            }
        };
        // Every file mode writes the key to the first file it names.
        write_key(&files[0], &key)?;
        self.keys.insert(
            key,
            Key {
                created: Instant::now(),
                files,
            },
        );
        Ok(Some(format!(
            "Basic realm={}",
            self.client_paths.show(&realm)
        )))
    }

    /// Accepts `key` once if it was handed out less than `lifetime` ago.
    fn redeem(&mut self, key: &[u8], lifetime: Duration) -> bool {
        self.expire(lifetime);
        match self.keys.remove(key) {
            Some(k) => {
                remove_files(&k.files);
                true
            }
            None => false,
        }
    }
}

impl Drop for ArcState {
    fn drop(&mut self) {
        self.forget_keys();
    }
}

fn remove_files(files: &[PathBuf]) {
    for f in files {
        // A directory link is removed as a file on Unix and as a directory on Windows.
        if std::fs::remove_file(f).is_err() {
            let _ = std::fs::remove_dir(f);
        }
    }
}

/// The UNC name of a path: `C:\x` → `\\localhost\C$\x` (the administrative share),
/// `/x` → `//localhost/x`.
fn unc(path: &str) -> String {
    let bytes = path.as_bytes();
    if bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\' {
        format!("\\\\localhost\\{}$\\{}", &path[..1], &path[3..])
    } else {
        format!("//localhost{path}")
    }
}

fn write_key(path: &Path, key: &[u8]) -> io::Result<()> {
    std::fs::write(path, key)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

#[cfg(unix)]
fn symlink_dir(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink_dir(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// `<from>/../../…/<target without its root>`: climbs to the root, then descends to `target`.
fn dot_dot_path(from: &Path, target: &Path) -> PathBuf {
    let mut p = from.to_path_buf();
    for _ in from
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
    {
        p.push("..");
    }
    for c in target.components() {
        if let Component::Normal(x) = c {
            p.push(x);
        }
    }
    p
}

/// More than one identity parameter (IMDS-shaped refusal).
const ONE_IDENTITY: &str =
    "Only one of client_id, object_id and msi_res_id may be specified in the request";

/// The identity parameters an Arc agent (1.67+) honours.
const SELECTORS: &[(&str, managed_identity::MakeSelector)] = &[
    ("client_id", Selector::ClientId),
    ("object_id", Selector::ObjectId),
    ("msi_res_id", Selector::ResourceId),
];

/// `GET /arc/metadata/identity/oauth2/token`.
pub fn handle(app: &App, req: &Req) -> Resp {
    if !req.path.trim_end_matches('/').eq_ignore_ascii_case(PATH) {
        return managed_identity::imds_error(
            404,
            "not_found",
            "The requested resource was not found",
        );
    }
    if req.method != "GET" {
        return managed_identity::imds_error(
            405,
            "method_not_allowed",
            "The requested method is not allowed",
        );
    }
    if !managed_identity::has_metadata(req) {
        return managed_identity::imds_error(
            400,
            "bad_request_102",
            "Required metadata header not specified",
        );
    }
    let params = req.params();
    match param(&params, "api-version") {
        Some(v) if API_VERSIONS.contains(&v) => {}
        None | Some("") => {
            return managed_identity::imds_error(
                400,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            )
        }
        Some(_) => {
            return managed_identity::imds_error(400, "invalid_request", "Invalid api-version")
        }
    }
    let Some(resource) = param(&params, "resource").filter(|r| !r.is_empty()) else {
        return managed_identity::imds_error(
            400,
            "invalid_request",
            "Required audience parameter not specified",
        );
    };
    let Some(sel) = managed_identity::selector(&params, SELECTORS) else {
        return managed_identity::imds_error(400, "invalid_request", ONE_IDENTITY);
    };
    let (mode, lifetime) = {
        let cfg = lock(&app.cfg);
        (
            cfg.arc_challenge,
            Duration::from_secs(cfg.arc_key_lifetime_secs),
        )
    };
    let Some(authorization) = req.header("authorization") else {
        let challenge = lock(&app.arc).challenge(mode, lifetime);
        return match challenge {
            Ok(header) => {
                lock(&app.stats).counters.arc_challenges += 1;
                let resp = managed_identity::imds_error(
                    401,
                    "unauthorized_client",
                    "The request must carry the key from the file named in WWW-Authenticate",
                );
                match header {
                    Some(h) => resp.header("WWW-Authenticate", &h),
                    None => resp,
                }
            }
            Err(e) => managed_identity::imds_error(
                500,
                "internal_error",
                &format!("cannot write the key file: {e}"),
            ),
        };
    };
    let key = authorization
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("basic "))
        .map(|_| &authorization[6..]);
    let accepted = key.is_some_and(|k| lock(&app.arc).redeem(k.as_bytes(), lifetime));
    if !accepted {
        return managed_identity::imds_error(
            401,
            "unauthorized_client",
            "The key is unknown, expired or already used",
        );
    }
    match managed_identity::platform_token(app, &sel, resource, None) {
        Ok((t, client_id)) => {
            let mut body = managed_identity::imds_body(&t, resource, &client_id);
            if sel != Selector::System {
                if let Some((object_id, resource_id)) = identity_ids(app, &client_id) {
                    body["object_id"] = object_id.into();
                    body["msi_res_id"] = resource_id.into();
                }
            }
            Resp::json(200, &body)
        }
        Err(Refusal::IdentityNotFound) => {
            managed_identity::imds_error(400, "invalid_request", "Identity not found")
        }
        Err(r) => managed_identity::imds_refusal(r, resource),
    }
}

/// Object id and ARM resource id of the identity with that client id.
fn identity_ids(app: &App, client_id: &str) -> Option<(String, String)> {
    let dir = lock(&app.dir);
    let sp = dir.sp_by_app_id(client_id)?;
    Some((sp.id.clone(), sp.mi_resource_id()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unc_names_the_administrative_share() {
        assert_eq!(
            unc("C:\\ProgramData\\a.key"),
            "\\\\localhost\\C$\\ProgramData\\a.key"
        );
        assert_eq!(unc("/var/a.key"), "//localhost/var/a.key");
    }

    #[test]
    fn client_paths_map_both_ways_longest_first() {
        let mut paths = ClientPaths::default();
        paths.add("/=Z:\\").unwrap();
        paths.add("/w/prefix/drive_c=C:\\").unwrap();
        assert!(paths.add("no-equals").is_err());
        assert!(paths.add("=C:\\").is_err());
        let tokens = Path::new("/w/prefix/drive_c/ProgramData/AzureConnectedMachineAgent/Tokens");
        assert_eq!(
            paths.show(&tokens.join("a.key")),
            "C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens\\a.key"
        );
        assert_eq!(
            paths.show(Path::new("/tmp/x y/Zoë.key")),
            "Z:\\tmp\\x y\\Zoë.key"
        );
        assert_eq!(
            paths.local("c:\\ProgramData\\AzureConnectedMachineAgent\\Tokens"),
            tokens
        );
        assert_eq!(paths.local("Z:\\tmp\\t"), Path::new("/tmp/t"));
        // Not under a mapped name: as given.
        assert_eq!(paths.local("D:\\x"), Path::new("D:\\x"));
        assert_eq!(paths.local("C:x"), Path::new("C:x"));
        assert_eq!(
            ClientPaths::default().show(Path::new("/tmp/a.key")),
            "/tmp/a.key"
        );
    }

    #[test]
    fn modes_round_trip() {
        for m in [
            ChallengeMode::Valid,
            ChallengeMode::OutsideDirectory,
            ChallengeMode::DotDot,
            ChallengeMode::Symlink,
            ChallengeMode::LinkedDirectory,
            ChallengeMode::Unc,
            ChallengeMode::WrongExtension,
            ChallengeMode::Oversize,
            ChallengeMode::NoRealm,
            ChallengeMode::NoChallenge,
        ] {
            assert_eq!(ChallengeMode::parse(&m.name()), Some(m));
        }
        assert_eq!(ChallengeMode::parse("dotDot"), Some(ChallengeMode::DotDot));
        assert_eq!(ChallengeMode::parse("nope"), None);
    }

    #[test]
    fn dot_dot_resolves_outside() {
        let p = dot_dot_path(Path::new("/a/b/tokens"), Path::new("/tmp/out/k.key"));
        assert_eq!(p, PathBuf::from("/a/b/tokens/../../../tmp/out/k.key"));
    }

    #[test]
    fn keys_are_single_use_and_files_go_away() {
        let mut s = ArcState::new(None).unwrap();
        let life = Duration::from_secs(60);
        let header = s.challenge(ChallengeMode::Valid, life).unwrap().unwrap();
        let path = PathBuf::from(header.strip_prefix("Basic realm=").unwrap());
        assert_eq!(path.parent().unwrap(), s.token_dir());
        let key = std::fs::read(&path).unwrap();
        assert_eq!(key.len(), 64);
        assert!(s.redeem(&key, life));
        assert!(!path.exists());
        assert!(!s.redeem(&key, life), "a key is accepted once");

        let header = s.challenge(ChallengeMode::Oversize, life).unwrap().unwrap();
        let path = PathBuf::from(header.strip_prefix("Basic realm=").unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4097);
        let dir = s.token_dir().to_path_buf();
        drop(s);
        assert!(!path.exists() && !dir.exists());
    }
}
