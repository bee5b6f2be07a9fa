//! IMDS, App Service, Automation and Entra token endpoints.

use crate::common;

use common::*;
use managed_identity_emulator::seed;
use serde_json::{json, Value};

const VAULT: &str = "https://vault.azure.net";

#[tokio::test]
async fn imds_success_is_all_strings() {
    let emu = default_emulator().await;
    let resp = client()
        .get(format!("{}/metadata/identity/oauth2/token", emu.base_url()))
        .query(&[
            ("api-version", "2018-02-01"),
            ("resource", "https://graph.microsoft.com/"),
        ])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    for k in [
        "access_token",
        "refresh_token",
        "expires_in",
        "expires_on",
        "not_before",
        "resource",
        "token_type",
        "client_id",
    ] {
        assert!(v[k].is_string(), "{k} must be a string: {v}");
    }
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["resource"], "https://graph.microsoft.com/");
    // Real managed-identity tokens live about 24 h.
    assert_eq!(v["expires_in"], "86400");
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    let exp: u64 = v["expires_on"].as_str().unwrap().parse().unwrap();
    let nbf: u64 = v["not_before"].as_str().unwrap().parse().unwrap();
    assert_eq!(exp - nbf, 86_400);

    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["oid"], seed::SYSTEM_IDENTITY.object_id);
    assert_eq!(c["sub"], seed::SYSTEM_IDENTITY.object_id);
    assert_eq!(c["appid"], seed::SYSTEM_IDENTITY.client_id);
    assert_eq!(c["tid"], seed::TENANT_ID);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["xms_mirid"], seed::SYSTEM_IDENTITY.resource_id);
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{}/", seed::TENANT_ID)
    );
    assert_eq!(
        c["roles"],
        json!(["Application.Read.All", "AppRoleAssignment.ReadWrite.All"])
    );

    // api-version 2019-08-01, user-assigned by mi_res_id and msi_res_id.
    for (param, value) in [
        ("msi_res_id", seed::REPORTS_IDENTITY.resource_id),
        ("mi_res_id", seed::REPORTS_IDENTITY.resource_id),
        ("object_id", seed::REPORTS_IDENTITY.object_id),
    ] {
        let v: Value = client()
            .get(format!("{}/metadata/identity/oauth2/token", emu.base_url()))
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", "https://graph.microsoft.com"),
                (param, value),
            ])
            .header("Metadata", "true")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["client_id"], seed::REPORTS_IDENTITY.client_id, "{param}");
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["roles"], json!(["User.Read.All", "AuditLog.Read.All"]));
    }

    // An identity without roles on the resource: no roles claim at all.
    let v: Value = client()
        .get(format!("{}/metadata/identity/oauth2/token", emu.base_url()))
        .query(&[
            ("api-version", "2018-02-01"),
            ("resource", VAULT),
            ("client_id", seed::EMPTY_IDENTITY.client_id),
        ])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(claims(v["access_token"].as_str().unwrap())
        .get("roles")
        .is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn imds_error_bodies() {
    let emu = default_emulator().await;
    let url = format!("{}/metadata/identity/oauth2/token", emu.base_url());

    let resp = client()
        .get(&url)
        .query(&[("api-version", "2018-02-01"), ("resource", VAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"error":"bad_request_102","error_description":"Required metadata header not specified"}"#
    );

    for id in [
        ("client_id", seed::DETACHED_IDENTITY.client_id),
        ("client_id", "11111111-2222-3333-4444-555555555555"),
    ] {
        let resp = client()
            .get(&url)
            .query(&[("api-version", "2018-02-01"), ("resource", VAULT), id])
            .header("Metadata", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(resp.headers()["server"], "IMDS/150.870.65.1015");
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#
        );
    }

    let resp = client()
        .get(&url)
        .query(&[("api-version", "2018-02-01")])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");

    let resp = client()
        .get(format!(
            "{}/metadata/identity/getplatformmetadata?cred-api-version=2.0",
            emu.base_url()
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn app_service_headers_and_shape() {
    let emu = default_emulator().await;
    let url = format!("{}/msi/token", emu.base_url());
    let q = [("api-version", "2019-08-01"), ("resource", VAULT)];

    for header in [None, Some("wrong")] {
        let mut rb = client().get(&url).query(&q);
        if let Some(h) = header {
            rb = rb.header("X-IDENTITY-HEADER", h);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["server"], "Kestrel");
        let correlation = resp.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["statusCode"], 400);
        assert_eq!(v["correlationId"], correlation.as_str());
    }

    let resp = client()
        .get(&url)
        .query(&q)
        .header("x-identity-header", emu.identity_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v.get("expires_in").is_none(),
        "App Service has no expires_in: {v}"
    );
    for k in [
        "access_token",
        "expires_on",
        "not_before",
        "resource",
        "token_type",
        "client_id",
    ] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    assert_eq!(v["resource"], VAULT);
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);

    // msi_res_id is ignored: the system identity answers.
    let v: Value = client()
        .get(&url)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", VAULT),
            ("msi_res_id", seed::REPORTS_IDENTITY.resource_id),
        ])
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);

    // principal_id selects; two ids, a detached identity and a wrong api-version are 400.
    let v: Value = client()
        .get(&url)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", VAULT),
            ("principal_id", seed::REPORTS_IDENTITY.object_id),
        ])
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["client_id"], seed::REPORTS_IDENTITY.client_id);
    for bad in [
        vec![
            ("api-version", "2019-08-01"),
            ("resource", VAULT),
            ("client_id", seed::REPORTS_IDENTITY.client_id),
            ("mi_res_id", seed::REPORTS_IDENTITY.resource_id),
        ],
        vec![
            ("api-version", "2019-08-01"),
            ("resource", VAULT),
            ("client_id", seed::DETACHED_IDENTITY.client_id),
        ],
        vec![("api-version", "2017-09-01"), ("resource", VAULT)],
        vec![("resource", VAULT)],
    ] {
        let resp = client()
            .get(&url)
            .query(&bad)
            .header("X-IDENTITY-HEADER", emu.identity_header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad:?}");
        assert_eq!(resp.headers()["server"], "Kestrel");
    }
    let resp = client()
        .get(&url)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", VAULT),
            ("client_id", seed::DETACHED_IDENTITY.client_id),
        ])
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "Unable to load the proper Managed Identity.");
    emu.shutdown().await;
}

#[tokio::test]
async fn automation_form_post_and_metadata_switch() {
    let emu = default_emulator().await;
    let url = format!("{}/automation/token", emu.base_url());
    let form = format!(
        "resource={}&client_id={}",
        "https%3A%2F%2Fvault.azure.net",
        seed::REPORTS_IDENTITY.client_id
    );

    // Not required by default (the real sandbox serves MSAL.NET, which does not send it) ...
    let resp = client()
        .post(&url)
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // ... and required when the strict switch is on.
    control(
        &emu,
        reqwest::Method::POST,
        "/config",
        Some(json!({"automationRequireMetadata": true})),
    )
    .await;
    let resp = client()
        .post(&url)
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["server"], "Kestrel");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "Metadata header is required");

    let resp = client()
        .post(&url)
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .header("Metadata", "true")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["client_id"], seed::REPORTS_IDENTITY.client_id);
    assert_eq!(v["resource"], VAULT);
    assert!(v.get("expires_in").is_none());

    // GET without api-version works too; turning the switch off drops the Metadata requirement.
    control(
        &emu,
        reqwest::Method::POST,
        "/config",
        Some(json!({"automationRequireMetadata": false})),
    )
    .await;
    let resp = client()
        .get(&url)
        .query(&[("resource", VAULT)])
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    emu.shutdown().await;
}

#[tokio::test]
async fn entra_client_credentials() {
    let emu = default_emulator().await;
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID);
    // An application registered in the tenant (the seed holds only Microsoft's and a foreign
    // tenant's apps), holding one Graph role.
    let created = control(
        &emu,
        reqwest::Method::POST,
        "/servicePrincipals",
        Some(json!({"count": 1, "prefix": "ops-pipeline", "type": "Application"})),
    )
    .await;
    let app_id = created[0]["appId"].as_str().unwrap().to_string();
    control(
        &emu,
        reqwest::Method::POST,
        "/assignments",
        Some(json!({
            "principalId": created[0]["id"],
            "resourceId": seed::GRAPH.object_id,
            "appRoleValue": "Application.Read.All",
        })),
    )
    .await;
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("client_secret", "emulator-client-secret"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let resp = client().post(&url).form(&ok).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    // Entra tokens keep their ~1 h lifetime; only managed-identity tokens live 24 h.
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["ext_expires_in"], 3599);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["roles"], json!(["Application.Read.All"]));

    let mut bad = ok;
    bad[2] = ("client_secret", "nope");
    let resp = client().post(&url).form(&bad).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));

    let mut bad = ok;
    bad[3] = ("scope", "https://graph.microsoft.com/User.Read");
    let resp = client().post(&url).form(&bad).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");

    // A resource no service principal answers to: invalid_resource AADSTS500011.
    let mut bad = ok;
    bad[3] = ("scope", "https://managements.azure.com/.default");
    let resp = client().post(&url).form(&bad).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_resource");
    assert_eq!(v["error_codes"], json!([500011]));
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("AADSTS500011: The resource principal named https://managements.azure.com was not found in the tenant named Contoso."),
        "{d}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn entra_refuses_the_shared_secret_for_managed_identities_and_first_party_apps() {
    let emu = default_emulator().await;
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID);
    for client_id in [
        seed::SYSTEM_IDENTITY.client_id,
        seed::REPORTS_IDENTITY.client_id,
        seed::GRAPH.app_id,
        seed::EXCHANGE.app_id,
    ] {
        let resp = client()
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", "emulator-client-secret"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{client_id}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client");
        assert_eq!(v["error_codes"], json!([7000215]), "{client_id}");
        assert!(v["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("for a secret added to app '{client_id}'")));
    }
    let assertion = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln";
    for (client_id, status, code) in [
        (seed::REPORTS_IDENTITY.client_id, 400, 70021),
        (seed::GRAPH.app_id, 401, 700027),
    ] {
        let resp = client()
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{client_id}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error_codes"], json!([code]), "{client_id}");
    }
    emu.shutdown().await;
}
