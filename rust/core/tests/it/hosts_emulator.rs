//! The issue-12 hosts against the emulator (in-process, 127.0.0.1 only): a token from Azure Arc,
//! Cloud Shell, Azure ML / legacy MSI and Service Fabric over real HTTP and real pinned TLS;
//! every Arc key-file attack refused with the second leg never sent (emulator stats); a wrong
//! Service Fabric thumbprint refused before any HTTP request reaches the server.

use std::sync::Arc;

use crate::emulator::TestEmulator;
use managed_identity_core::clock::SystemClock;
use managed_identity_core::context::{self, Context};
use managed_identity_core::events::VecSink;
use managed_identity_core::services::Services;
use managed_identity_core::{Error, ErrorKind};
use managed_identity_emulator::seed::{REPORTS_IDENTITY, SYSTEM_IDENTITY};
use managed_identity_emulator::EmulatorConfig;
use managedidentity_engine::protocol;
use serde_json::{json, Value};

const ARC_DIR_VARIABLE: &str = "MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY";

struct Harness {
    emu: TestEmulator,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        Harness {
            emu: crate::emulator::start(EmulatorConfig::default())
                .await
                .expect("emulator starts"),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    fn env(&self, host: &str) -> Value {
        let mut env = self.emu.info()["hosts"][host]["environment"].clone();
        if host == "arc" {
            env[ARC_DIR_VARIABLE] = json!(self.emu.arc_token_dir().display().to_string());
        }
        env
    }

    async fn control(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}/_emulator/{path}", self.emu.base_url()))
            .json(&body)
            .send()
            .await
            .expect("control");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    async fn requests(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/_emulator/stats", self.emu.base_url()))
            .send()
            .await
            .expect("stats");
        r.json::<Value>().await.expect("json")["requests"].clone()
    }
}

async fn connect(env: Value, extra: Value) -> Result<(Context, Services), Error> {
    let svc = Services::new(Arc::new(SystemClock)).expect("services");
    let mut args = json!({"environment": env, "timeoutSeconds": 20});
    if let (Some(a), Value::Object(b)) = (args.as_object_mut(), extra) {
        a.extend(b);
    }
    let options = protocol::args::connect_options(&args)?;
    let ctx = context::connect(options, None, &svc, &VecSink::default()).await?;
    Ok((ctx, svc))
}

async fn object_id(ctx: &Context, svc: &Services) -> String {
    let token = ctx
        .token(None, false, svc, &VecSink::default())
        .await
        .expect("token");
    token.claims.and_then(|c| c.oid).expect("oid")
}

#[tokio::test]
async fn every_host_issues_tokens_for_the_identities_it_can_select() {
    let h = Harness::start().await;
    let cases: [(&str, &str, Value, &str); 6] = [
        ("arc", "Arc", json!({}), SYSTEM_IDENTITY.object_id),
        (
            "cloudShell",
            "CloudShell",
            json!({}),
            SYSTEM_IDENTITY.object_id,
        ),
        (
            "machineLearning",
            "MachineLearning",
            json!({}),
            SYSTEM_IDENTITY.object_id,
        ),
        (
            "machineLearning",
            "MachineLearning",
            json!({"clientId": REPORTS_IDENTITY.client_id}),
            REPORTS_IDENTITY.object_id,
        ),
        (
            "serviceFabric",
            "ServiceFabric",
            json!({}),
            SYSTEM_IDENTITY.object_id,
        ),
        (
            "serviceFabric",
            "ServiceFabric",
            json!({"objectId": REPORTS_IDENTITY.object_id}),
            REPORTS_IDENTITY.object_id,
        ),
    ];
    for (host, source, selector, expected) in cases {
        let (ctx, svc) = connect(h.env(host), selector.clone())
            .await
            .unwrap_or_else(|e| panic!("{host} {selector}: {}", e.message));
        let token = ctx
            .token(None, false, &svc, &VecSink::default())
            .await
            .expect("token");
        assert_eq!(token.source, Some(source));
        assert_eq!(object_id(&ctx, &svc).await, expected, "{host} {selector}");
    }
    let requests = h.requests().await;
    assert_eq!(requests["arcWithKey"], 1);
    assert_eq!(requests["arcChallenges"], 1);
}

#[tokio::test]
async fn ml_reads_the_legacy_app_service_date_form() {
    let h = Harness::start().await;
    h.control("config", json!({"msiExpiresOn": "date"})).await;
    let (ctx, svc) = connect(h.env("machineLearning"), json!({}))
        .await
        .expect("connect");
    let token = ctx
        .token(None, false, &svc, &VecSink::default())
        .await
        .expect("token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_secs();
    assert!(token.expires_on > now + 3600, "{}", token.expires_on);
}

#[tokio::test]
async fn every_arc_key_file_attack_is_refused_without_the_second_leg() {
    let h = Harness::start().await;
    for (mode, kind) in [
        ("outsideDirectory", ErrorKind::UnsafeKeyFile),
        ("dotDot", ErrorKind::UnsafeKeyFile),
        ("symlink", ErrorKind::UnsafeKeyFile),
        ("wrongExtension", ErrorKind::UnsafeKeyFile),
        ("oversize", ErrorKind::UnsafeKeyFile),
        ("noRealm", ErrorKind::InvalidResponse),
        ("noChallenge", ErrorKind::InvalidResponse),
    ] {
        h.control("config", json!({"arcChallenge": mode})).await;
        h.control("stats/reset", json!({})).await;
        let e = connect(h.env("arc"), json!({}))
            .await
            .err()
            .unwrap_or_else(|| panic!("{mode} gave a token"));
        assert_eq!(e.kind, kind, "{mode}: {}", e.message);
        let requests = h.requests().await;
        assert_eq!(requests["arc"], 1, "{mode}: one request only");
        assert_eq!(requests["arcWithKey"], 0, "{mode}: the key was sent");
    }
}

#[tokio::test]
async fn arc_refuses_user_assigned_identities_before_any_request() {
    let h = Harness::start().await;
    let e = connect(
        h.env("arc"),
        json!({"clientId": REPORTS_IDENTITY.client_id}),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(e.kind, ErrorKind::UnsupportedIdentityKind);
    assert_eq!(h.requests().await["arc"], 0);
}

#[tokio::test]
async fn a_wrong_service_fabric_thumbprint_ends_the_handshake() {
    let h = Harness::start().await;
    let mut env = h.env("serviceFabric");
    env["IDENTITY_SERVER_THUMBPRINT"] = json!("00112233445566778899AABBCCDDEEFF00112233");
    let e = connect(env, json!({})).await.err().expect("refused");
    assert_eq!(e.kind, ErrorKind::CertificateMismatch, "{}", e.message);
    assert!(
        !e.message.contains(h.emu.identity_header()),
        "{}",
        e.message
    );
    assert_eq!(h.requests().await["serviceFabric"], 0);
    // The right thumbprint, in lower case with colons, works.
    let mut env = h.env("serviceFabric");
    let tp = h.emu.service_fabric().thumbprint.to_ascii_lowercase();
    let spaced: Vec<String> = tp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    env["IDENTITY_SERVER_THUMBPRINT"] = json!(spaced.join(":"));
    connect(env, json!({})).await.expect("pinned");
    assert_eq!(h.requests().await["serviceFabric"], 1);
}

#[tokio::test]
async fn test_endpoint_probes_the_chosen_host_without_secrets() {
    let h = Harness::start().await;
    let svc = Services::new(Arc::new(SystemClock)).expect("services");
    for (host, source, available) in [
        ("arc", "Arc", true),
        ("cloudShell", "CloudShell", true),
        ("machineLearning", "MachineLearning", true),
        ("serviceFabric", "ServiceFabric", true),
    ] {
        let rows = context::test_endpoints(
            protocol::args::test_endpoint_options(
                &json!({"environment": h.env(host), "timeoutSeconds": 5}),
            )
            .expect("options"),
            &svc,
        )
        .await
        .map(|d| protocol::detection_json(&d))
        .expect("rows");
        assert_eq!(rows["selected"], source, "{rows}");
        let row = rows["sources"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["source"] == source)
            .cloned()
            .expect("row");
        assert_eq!(row["available"], available, "{row}");
    }
    let requests = h.requests().await;
    assert_eq!(requests["arcChallenges"], 0, "a probe caused a challenge");
    let mut env = h.env("serviceFabric");
    env["IDENTITY_SERVER_THUMBPRINT"] = json!("00112233445566778899AABBCCDDEEFF00112233");
    let rows = context::test_endpoints(
        protocol::args::test_endpoint_options(&json!({"environment": env, "timeoutSeconds": 5}))
            .expect("options"),
        &svc,
    )
    .await
    .map(|d| protocol::detection_json(&d))
    .expect("rows");
    let row = rows["sources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["source"] == "ServiceFabric")
        .cloned()
        .expect("the Service Fabric row");
    assert_eq!(row["available"], false, "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match IDENTITY_SERVER_THUMBPRINT"),
        "{row}"
    );
}
