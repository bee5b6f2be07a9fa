//! The managed-identity hosts beyond IMDS and App Service: Azure Arc (two-leg key-file
//! handshake and its attack modes), Cloud Shell, Azure ML / legacy MSI and Service Fabric over
//! HTTPS; and the info route that tells clients how to reach each.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use managed_identity_emulator::{seed, tls, EmulatorConfig, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

const VAULT: &str = "https://vault.azure.net";

fn arc_url(emu: &RunningEmulator) -> String {
    format!("{}/arc/metadata/identity/oauth2/token", emu.base_url())
}

async fn arc_get(emu: &RunningEmulator, authorization: Option<&[u8]>) -> reqwest::Response {
    let mut rb = client()
        .get(arc_url(emu))
        .query(&[("api-version", "2020-06-01"), ("resource", VAULT)])
        .header("Metadata", "true");
    if let Some(key) = authorization {
        let mut value = b"Basic ".to_vec();
        value.extend_from_slice(key);
        rb = rb.header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
        );
    }
    rb.send().await.unwrap()
}

/// The realm path of a 401 challenge.
fn realm(resp: &reqwest::Response) -> PathBuf {
    let h = resp.headers()["www-authenticate"].to_str().unwrap();
    PathBuf::from(h.strip_prefix("Basic realm=").expect("a realm"))
}

async fn arc_counters(emu: &RunningEmulator) -> (u64, u64, u64) {
    let s = control(emu, Method::GET, "/stats", None).await;
    let r = &s["requests"];
    (
        r["arc"].as_u64().unwrap(),
        r["arcChallenges"].as_u64().unwrap(),
        r["arcWithKey"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn arc_handshake_with_a_real_key_file() {
    let emu = default_emulator().await;
    let dir = emu.arc_token_dir().to_path_buf();
    assert!(dir.is_dir());

    let challenge = arc_get(&emu, None).await;
    assert_eq!(challenge.status(), 401);
    let path = realm(&challenge);
    assert_eq!(path.parent().unwrap(), dir);
    assert_eq!(path.extension().unwrap(), "key");
    let key = std::fs::read(&path).unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(arc_counters(&emu).await, (1, 1, 0));

    // The raw file contents, not base64-encoded again.
    let resp = arc_get(&emu, Some(&key)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    for k in [
        "access_token",
        "expires_in",
        "expires_on",
        "not_before",
        "resource",
    ] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    assert_eq!(v["resource"], VAULT);
    assert_eq!(arc_counters(&emu).await, (2, 1, 1));
    assert!(!path.exists(), "a used key file is removed");

    // A key is accepted once; a wrong key is refused without a new challenge.
    let again = arc_get(&emu, Some(&key)).await;
    assert_eq!(again.status(), 401);
    assert!(again.headers().get("www-authenticate").is_none());
    assert_eq!(arc_get(&emu, Some(b"not-the-key")).await.status(), 401);

    // More than one identity parameter is refused before any key file is written.
    let resp = client()
        .get(arc_url(&emu))
        .query(&[
            ("api-version", "2021-02-01"),
            ("resource", VAULT),
            ("client_id", seed::REPORTS_IDENTITY.client_id),
            ("object_id", seed::REPORTS_IDENTITY.object_id),
        ])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    // Metadata is required, as on IMDS; every client api-version is accepted.
    let resp = client()
        .get(arc_url(&emu))
        .query(&[("api-version", "2019-11-01"), ("resource", VAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client()
        .get(arc_url(&emu))
        .query(&[("api-version", "2019-11-01"), ("resource", VAULT)])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    emu.shutdown().await;
    assert!(!dir.exists(), "the temporary token directory is removed");
}

#[tokio::test]
async fn arc_key_lifetime_and_chosen_directory() {
    let parent = tempfile::tempdir().unwrap();
    let chosen = parent.path().join("tokens");
    let emu = emulator(EmulatorConfig {
        arc_token_dir: Some(chosen.clone()),
        arc_key_lifetime_secs: 0,
        ..Default::default()
    })
    .await;
    assert_eq!(emu.arc_token_dir(), chosen.canonicalize().unwrap());
    let challenge = arc_get(&emu, None).await;
    let path = realm(&challenge);
    assert_eq!(path.parent().unwrap(), chosen.canonicalize().unwrap());
    let key = std::fs::read(&path).unwrap();
    assert_eq!(
        arc_get(&emu, Some(&key)).await.status(),
        401,
        "an expired key is refused"
    );
    emu.shutdown().await;
    assert!(chosen.is_dir(), "a chosen directory is kept");
}

/// Sets the challenge mode, asks for a challenge, and returns the realm header and the path.
async fn challenge_in_mode(emu: &RunningEmulator, mode: &str) -> (Option<String>, u16) {
    control(
        emu,
        Method::POST,
        "/config",
        Some(json!({"arcChallenge": mode})),
    )
    .await;
    let resp = arc_get(emu, None).await;
    let status = resp.status().as_u16();
    let header = resp
        .headers()
        .get("www-authenticate")
        .map(|h| h.to_str().unwrap().to_string());
    (header, status)
}

fn lexically_normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[tokio::test]
async fn arc_attack_modes_name_files_a_careful_client_refuses() {
    let emu = default_emulator().await;
    let dir = emu.arc_token_dir().to_path_buf();

    // Outside the directory.
    let (h, status) = challenge_in_mode(&emu, "outsideDirectory").await;
    assert_eq!(status, 401);
    let p = PathBuf::from(h.unwrap().strip_prefix("Basic realm=").unwrap());
    assert_ne!(p.parent().unwrap(), dir);
    assert_eq!(p.extension().unwrap(), "key");
    let outside_key = std::fs::read(&p).unwrap();

    // `..`: textually under the directory, really outside it.
    let (h, _) = challenge_in_mode(&emu, "dotDot").await;
    let p = PathBuf::from(h.unwrap().strip_prefix("Basic realm=").unwrap());
    assert!(p.starts_with(&dir), "{}", p.display());
    assert!(p.components().any(|c| c == std::path::Component::ParentDir));
    assert!(!lexically_normal(&p).starts_with(&dir));
    assert!(p.is_file());

    // A symbolic link inside the directory to a key outside it.
    let (h, _) = challenge_in_mode(&emu, "symlink").await;
    let p = PathBuf::from(h.unwrap().strip_prefix("Basic realm=").unwrap());
    assert_eq!(p.parent().unwrap(), dir);
    assert!(std::fs::symlink_metadata(&p)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_ne!(p.canonicalize().unwrap().parent().unwrap(), dir);

    // Wrong extension.
    let (h, _) = challenge_in_mode(&emu, "wrongExtension").await;
    let p = PathBuf::from(h.unwrap().strip_prefix("Basic realm=").unwrap());
    assert_eq!(p.parent().unwrap(), dir);
    assert_eq!(p.extension().unwrap(), "txt");

    // 4097 bytes: one more than clients accept.
    let (h, _) = challenge_in_mode(&emu, "oversize").await;
    let p = PathBuf::from(h.unwrap().strip_prefix("Basic realm=").unwrap());
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 4097);

    // No realm; no challenge header at all.
    let (h, status) = challenge_in_mode(&emu, "noRealm").await;
    assert_eq!((h.as_deref(), status), (Some("Basic"), 401));
    let (h, status) = challenge_in_mode(&emu, "noChallenge").await;
    assert_eq!((h, status), (None, 401));

    // Every file an attack names holds a key the emulator would accept, so a client that
    // reads one shows up in the stats and gets a token.
    assert_eq!(arc_counters(&emu).await.2, 0);
    assert_eq!(arc_get(&emu, Some(&outside_key)).await.status(), 200);
    assert_eq!(arc_counters(&emu).await.2, 1);

    // Unknown mode → 400, nothing applied.
    let resp = client()
        .post(format!("{}/_emulator/config", emu.base_url()))
        .json(&json!({"arcChallenge": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn cloud_shell_posts_a_form_with_metadata() {
    let emu = default_emulator().await;
    let url = format!("{}/cloudshell/oauth2/token", emu.base_url());
    let resp = client()
        .post(&url)
        .header("Metadata", "true")
        .form(&[("resource", VAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resource"], VAULT);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].is_string() && v["expires_on"].is_string());

    // Without Metadata, with GET, without resource, or for an unknown resource: nested errors.
    let no_metadata = client()
        .post(&url)
        .form(&[("resource", VAULT)])
        .send()
        .await
        .unwrap();
    let get = client()
        .get(&url)
        .query(&[("resource", VAULT)])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    let no_resource = client()
        .post(&url)
        .header("Metadata", "true")
        .form(&[("client_id", seed::REPORTS_IDENTITY.client_id)])
        .send()
        .await
        .unwrap();
    let unknown = client()
        .post(&url)
        .header("Metadata", "true")
        .form(&[("resource", "https://nope.example")])
        .send()
        .await
        .unwrap();
    for (resp, status) in [
        (no_metadata, 400),
        (get, 405),
        (no_resource, 400),
        (unknown, 400),
    ] {
        assert_eq!(resp.status(), status);
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{v}"
        );
    }
    emu.shutdown().await;
}

async fn ml_get(
    emu: &RunningEmulator,
    params: &[(&str, &str)],
    secret: Option<&str>,
) -> (u16, Value) {
    let mut rb = client()
        .get(format!("{}/ml/msi/token", emu.base_url()))
        .query(params);
    if let Some(s) = secret {
        rb = rb.header("secret", s);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn machine_learning_and_legacy_msi() {
    let emu = default_emulator().await;
    let secret = emu.identity_header().to_string();
    let base = [("api-version", "2017-09-01"), ("resource", VAULT)];

    // No id, or DEFAULT_IDENTITY_CLIENT_ID as clientid (what MSAL.NET sends): the default identity.
    let (status, v) = ml_get(&emu, &base, Some(&secret)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    let epoch: u64 = v["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(epoch > 1_700_000_000);
    assert!(v.get("expires_in").is_none());
    let mut with_default = base.to_vec();
    with_default.push(("clientid", seed::SYSTEM_IDENTITY.client_id));
    let (_, v) = ml_get(&emu, &with_default, Some(&secret)).await;
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);

    // A user-assigned identity by clientid.
    let mut uami = base.to_vec();
    uami.push(("clientid", seed::REPORTS_IDENTITY.client_id));
    let (_, v) = ml_get(&emu, &uami, Some(&secret)).await;
    assert_eq!(v["client_id"], seed::REPORTS_IDENTITY.client_id);

    // Other id spellings, a wrong secret, a wrong api-version, an unknown identity.
    let mut wrong_name = base.to_vec();
    wrong_name.push(("client_id", seed::REPORTS_IDENTITY.client_id));
    let (status, v) = ml_get(&emu, &wrong_name, Some(&secret)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = ml_get(&emu, &base, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = ml_get(&emu, &base, None).await;
    assert_eq!(status, 401);
    let (status, _) = ml_get(
        &emu,
        &[("api-version", "2019-08-01"), ("resource", VAULT)],
        Some(&secret),
    )
    .await;
    assert_eq!(status, 400);
    let mut detached = base.to_vec();
    detached.push(("clientid", seed::DETACHED_IDENTITY.client_id));
    let (status, v) = ml_get(&emu, &detached, Some(&secret)).await;
    assert_eq!(
        (status, v["error_description"].as_str()),
        (400, Some("Identity not found"))
    );

    // The App Service 2017 date form: MM/dd/yyyy HH:mm:ss +00:00.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"msiExpiresOn": "date"})),
    )
    .await;
    let (_, v) = ml_get(&emu, &base, Some(&secret)).await;
    let s = v["expires_on"].as_str().unwrap();
    assert_eq!(s.len(), 26, "{s}");
    assert!(
        s.ends_with(" +00:00") && &s[2..3] == "/" && &s[5..6] == "/",
        "{s}"
    );
    assert_eq!(
        s,
        managed_identity_emulator::msi_legacy::legacy_date(epoch),
        "the platform cache hands out the same token, now in date form"
    );
    emu.shutdown().await;
}

fn https_client() -> reqwest::Client {
    // Pinning is the client's job: here the test checks the certificate's thumbprint itself.
    reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn service_fabric_over_https_with_a_pinned_certificate() {
    let emu = default_emulator().await;
    let sf = emu.service_fabric().clone();
    assert!(sf.base_url.starts_with("https://127.0.0.1:"));
    assert_eq!(sf.thumbprint.len(), 40);
    assert!(sf
        .thumbprint
        .chars()
        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    let url = format!("{}/metadata/identity/oauth2/token", sf.base_url);
    let header = emu.identity_header().to_string();

    let resp = https_client()
        .get(&url)
        .query(&[("api-version", "2019-07-01-preview"), ("resource", VAULT)])
        .header("secret", &header)
        .send()
        .await
        .unwrap();
    let served = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(tls::sha1_thumbprint)
        .unwrap();
    assert_eq!(served, sf.thumbprint);
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["expires_on"].is_u64(),
        "a JSON number, as documented: {v}"
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["resource"], VAULT);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], seed::SYSTEM_IDENTITY.object_id);

    // The certificate is a real one a client can trust explicitly (for 127.0.0.1).
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(
            reqwest::Certificate::from_pem(sf.certificate_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let resp = trusting
        .get(&url)
        .query(&[
            ("api-version", "2020-05-01"),
            ("resource", VAULT),
            ("principalId", seed::REPORTS_IDENTITY.object_id),
        ])
        .header("secret", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["oid"],
        seed::REPORTS_IDENTITY.object_id
    );

    // object_id is silently ignored (system identity), as Service Fabric does.
    let v: Value = https_client()
        .get(&url)
        .query(&[
            ("api-version", "2019-07-01-preview"),
            ("resource", VAULT),
            ("object_id", seed::REPORTS_IDENTITY.object_id),
        ])
        .header("secret", &header)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["oid"],
        seed::SYSTEM_IDENTITY.object_id
    );

    // Documented error codes, nested.
    for (query, secret, status, code) in [
        (
            vec![("api-version", "2019-07-01-preview"), ("resource", VAULT)],
            None,
            401,
            "SecretHeaderNotFound",
        ),
        (
            vec![("resource", VAULT)],
            Some(header.as_str()),
            400,
            "InvalidApiVersion",
        ),
        (
            vec![("api-version", "2019-07-01-preview")],
            Some(header.as_str()),
            400,
            "ArgumentNullOrEmpty",
        ),
        (
            vec![
                ("api-version", "2019-07-01-preview"),
                ("resource", VAULT),
                ("principalId", seed::DETACHED_IDENTITY.object_id),
            ],
            Some(header.as_str()),
            404,
            "ManagedIdentityNotFound",
        ),
    ] {
        let mut rb = https_client().get(&url).query(&query);
        if let Some(s) = secret {
            rb = rb.header("secret", s);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status(), status, "{code}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code);
        assert!(v["error"]["correlationId"].is_string());
    }

    // Selectable string form of expires_on.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"serviceFabricExpiresOn": "string"})),
    )
    .await;
    let v: Value = https_client()
        .get(&url)
        .query(&[("api-version", "2019-07-01-preview"), ("resource", VAULT)])
        .header("secret", &header)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["expires_on"].is_string());
    let stats = control(&emu, Method::GET, "/stats", None).await;
    assert!(stats["requests"]["serviceFabric"].as_u64().unwrap() >= 8);
    // Plain HTTP on the main port does not serve Service Fabric's route as Service Fabric.
    assert_eq!(
        client()
            .get(format!("{}/metadata/identity/oauth2/token", emu.base_url()))
            .query(&[("api-version", "2019-07-01-preview"), ("resource", VAULT)])
            .header("secret", &header)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn info_names_every_host_and_its_environment() {
    let emu = default_emulator().await;
    let info = control(&emu, Method::GET, "/info", None).await;
    assert_eq!(info, emu.info());
    let base = emu.base_url();
    let hosts = &info["hosts"];
    assert_eq!(
        hosts["imds"]["environment"]["AZURE_POD_IDENTITY_AUTHORITY_HOST"],
        base
    );
    assert_eq!(
        hosts["appService"]["environment"]["IDENTITY_ENDPOINT"],
        format!("{base}/msi/token")
    );
    assert_eq!(
        hosts["arc"]["environment"]["IMDS_ENDPOINT"],
        format!("{base}/arc")
    );
    assert_eq!(
        hosts["arc"]["tokenDirectory"],
        emu.arc_token_dir().display().to_string()
    );
    assert_eq!(
        hosts["cloudShell"]["environment"]["MSI_ENDPOINT"],
        format!("{base}/cloudshell/oauth2/token")
    );
    assert!(hosts["cloudShell"]["environment"]
        .get("MSI_SECRET")
        .is_none());
    assert_eq!(
        hosts["machineLearning"]["environment"]["MSI_SECRET"],
        emu.identity_header()
    );
    assert_eq!(
        hosts["machineLearning"]["environment"]["DEFAULT_IDENTITY_CLIENT_ID"],
        seed::SYSTEM_IDENTITY.client_id
    );
    assert_eq!(
        hosts["serviceFabric"]["environment"]["IDENTITY_SERVER_THUMBPRINT"],
        emu.service_fabric().thumbprint
    );
    assert!(hosts["serviceFabric"]["environment"]["IDENTITY_ENDPOINT"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    emu.shutdown().await;
}

/// Both legs of the Arc handshake with extra query parameters; the second answer.
async fn arc_token(emu: &RunningEmulator, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut query = vec![("api-version", "2020-06-01"), ("resource", VAULT)];
    query.extend_from_slice(extra);
    let challenge = client()
        .get(arc_url(emu))
        .query(&query)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 401);
    let key = std::fs::read(realm(&challenge)).unwrap();
    let mut value = b"Basic ".to_vec();
    value.extend_from_slice(&key);
    client()
        .get(arc_url(emu))
        .query(&query)
        .header("Metadata", "true")
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
        )
        .send()
        .await
        .unwrap()
}

/// Agents from 1.67 on honour a requested user-assigned identity and echo it (MSAL and
/// azure-identity refuse a token whose echo is missing); `mi_res_id` is not an Arc parameter
/// and, like the agent, the emulator ignores it.
#[tokio::test]
async fn arc_user_assigned_identities_are_honoured_and_echoed() {
    let emu = default_emulator().await;
    let r = &seed::REPORTS_IDENTITY;
    for (name, value) in [
        ("client_id", r.client_id),
        ("object_id", r.object_id),
        ("msi_res_id", r.resource_id),
    ] {
        let resp = arc_token(&emu, &[(name, value)]).await;
        assert_eq!(resp.status(), 200, "{name}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["client_id"], r.client_id, "{name}");
        assert_eq!(v["object_id"], r.object_id, "{name}");
        assert_eq!(
            v["msi_res_id"].as_str().unwrap().to_ascii_lowercase(),
            r.resource_id.to_ascii_lowercase(),
            "{name}"
        );
        let token = v["access_token"].as_str().unwrap();
        let claims = managed_identity_emulator::token::decode(token).unwrap();
        assert_eq!(claims["appid"], r.client_id, "{name}");
    }
    let resp = arc_token(&emu, &[("mi_res_id", r.resource_id)]).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    assert!(v.get("object_id").is_none() && v.get("msi_res_id").is_none());
    // An identity the machine does not have: IMDS-shaped 400 after the handshake.
    let resp = arc_token(&emu, &[("client_id", seed::DETACHED_IDENTITY.client_id)]).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error_description"], "Identity not found");
    emu.shutdown().await;
}
