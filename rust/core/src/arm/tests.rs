//! Unit tests of the ARM client on the fake transport and a fake clock: errors, retries,
//! redirects and long-running operations.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use url::Url;

use super::*;
use crate::clock::FakeClock;
use crate::error::ErrorKind;
use crate::http::transport::testing::{response, FakeTransport};
use crate::http::TransportError;
use crate::secret::Secret;
use crate::token::StaticToken;

const TOKEN: &str = "arm-secret-token";
const BASE: &str = "https://arm.example";

fn client(t: Arc<FakeTransport>, clock: FakeClock) -> ArmClient<'static> {
    ArmClient::new(
        t,
        Arc::new(clock),
        Url::parse(BASE).unwrap(),
        Box::new(StaticToken::new(Secret::new(TOKEN))),
    )
}

fn uai_url(c: &ArmClient<'_>) -> Url {
    c.url(
        "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi1",
        ResourceType::UserAssignedIdentities,
    )
    .unwrap()
}

fn no_secret(e: &crate::Error) {
    assert!(!e.message.contains(TOKEN), "{}", e.message);
    assert!(!format!("{:?}", e.details).contains(TOKEN));
}

#[tokio::test]
async fn pinned_api_version_bearer_and_429_retry_after() {
    let t = FakeTransport::new(|_, i| {
        Ok(match i {
            0 => response(
                429,
                json!({"error": {"code": "TooManyRequests"}}),
                &[("retry-after", "7")],
            ),
            _ => response(200, json!({"name": "mi1"}), &[]),
        })
    });
    let clock = FakeClock::at_unix(1_000);
    let c = client(t.clone(), clock.clone());
    let v = c
        .call(Method::GET, uai_url(&c), None, "reading mi1")
        .await
        .unwrap();
    assert_eq!(v["name"], "mi1");
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
    let calls = t.calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[0].url.ends_with("?api-version=2023-01-31"),
        "{}",
        calls[0].url
    );
    let auth = calls[0].headers.get("authorization").unwrap();
    assert_eq!(auth.to_str().unwrap(), format!("Bearer {TOKEN}"));
    assert!(auth.is_sensitive());
}

#[tokio::test]
async fn server_errors_are_retried_for_idempotent_methods_only() {
    for (method, expected_calls) in [
        (Method::GET, 3),
        (Method::PUT, 3),
        (Method::PATCH, 3),
        (Method::DELETE, 3),
        (Method::POST, 1),
    ] {
        let t = FakeTransport::new(|_, i| {
            Ok(if i < 2 {
                response(
                    503,
                    json!({"error": {"code": "ServiceUnavailable", "message": "busy"}}),
                    &[("retry-after", "1")],
                )
            } else {
                response(200, json!({}), &[])
            })
        });
        let c = client(t.clone(), FakeClock::at_unix(1));
        let r = c
            .call(method.clone(), uai_url(&c), Some(&json!({})), "x")
            .await;
        assert_eq!(t.calls().len(), expected_calls, "{method}");
        if method == Method::POST {
            let e = r.unwrap_err();
            assert_eq!(e.kind, ErrorKind::ServiceError);
            assert!(e.message.contains("ServiceUnavailable"), "{}", e.message);
        } else {
            r.unwrap();
        }
    }
}

#[tokio::test]
async fn broken_connections_are_retried_for_idempotent_methods_only() {
    let t = FakeTransport::new(|_, i| {
        if i == 0 {
            Err(TransportError::broken("reset"))
        } else {
            Ok(response(200, json!({}), &[]))
        }
    });
    let c = client(t.clone(), FakeClock::at_unix(1));
    c.call(Method::GET, uai_url(&c), None, "x").await.unwrap();
    assert_eq!(t.calls().len(), 2);

    let t = FakeTransport::new(|_, _| Err(TransportError::broken("reset")));
    let c = client(t.clone(), FakeClock::at_unix(1));
    let e = c
        .call(Method::POST, uai_url(&c), None, "x")
        .await
        .unwrap_err();
    assert_eq!(t.calls().len(), 1);
    assert_eq!(e.kind, ErrorKind::ConnectionFailed);
    no_secret(&e);
}

#[tokio::test]
async fn retries_are_bounded() {
    let t = FakeTransport::new(|_, _| {
        Ok(response(
            429,
            json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
            &[],
        ))
    });
    let c = client(t.clone(), FakeClock::at_unix(1));
    let e = c
        .call(Method::GET, uai_url(&c), None, "listing")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(
        t.calls().len() as u32,
        ArmClientOptions::default().max_attempts
    );
    no_secret(&e);
}

#[tokio::test]
async fn arm_errors_are_surfaced_and_redirects_not_followed() {
    let t = FakeTransport::script(vec![Ok(response(
        404,
        json!({"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'rg' could not be found."}}),
        &[("x-ms-correlation-request-id", "c-9")],
    ))]);
    let c = client(t.clone(), FakeClock::at_unix(1));
    let e = c
        .get_optional(uai_url(&c), "reading mi1")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message.contains("ResourceGroupNotFound") && e.message.contains("c-9"),
        "{}",
        e.message
    );
    assert_eq!(e.details.as_ref().unwrap()["code"], "ResourceGroupNotFound");

    let t = FakeTransport::script(vec![Ok(response(
        404,
        json!({"error": {"code": "ResourceNotFound", "message": "gone"}}),
        &[],
    ))]);
    let c = client(t, FakeClock::at_unix(1));
    assert_eq!(c.get_optional(uai_url(&c), "x").await.unwrap(), None);

    let t = FakeTransport::script(vec![Ok(response(
        302,
        serde_json::Value::Null,
        &[("location", "https://elsewhere.example/steal?sig=abc")],
    ))]);
    let c = client(t.clone(), FakeClock::at_unix(1));
    let e = c
        .call(Method::GET, uai_url(&c), None, "x")
        .await
        .unwrap_err();
    assert_eq!(t.calls().len(), 1, "redirect not followed");
    assert!(
        e.message.contains("https://elsewhere.example") && !e.message.contains("sig=abc"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn async_operation_is_polled_then_the_resource_read_back() {
    let t = FakeTransport::new(|req, i| {
        Ok(match i {
            0 => {
                assert_eq!(req.method, Method::PUT);
                response(
                    201,
                    json!({"properties": {"provisioningState": "Creating"}}),
                    &[
                        (
                            "azure-asyncoperation",
                            "https://arm.example/op/1?api-version=2023-01-31",
                        ),
                        ("retry-after", "3"),
                    ],
                )
            }
            1 => response(200, json!({"status": "InProgress"}), &[]),
            2 => response(200, json!({"status": "Succeeded"}), &[]),
            _ => {
                assert_eq!(req.method, Method::GET);
                assert!(req.url.path().ends_with("/mi1"));
                response(
                    200,
                    json!({"name": "mi1", "properties": {"clientId": "c"}}),
                    &[],
                )
            }
        })
    });
    let clock = FakeClock::at_unix(1);
    let c = client(t.clone(), clock.clone());
    let v = c
        .call(
            Method::PUT,
            uai_url(&c),
            Some(&json!({"location": "uksouth"})),
            "creating",
        )
        .await
        .unwrap();
    assert_eq!(v["properties"]["clientId"], "c");
    assert_eq!(t.calls().len(), 4);
    let poll = ArmClientOptions::default().lro_poll_interval;
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3), poll]);
}

#[tokio::test]
async fn location_polling_until_done() {
    let t = FakeTransport::new(|_, i| {
        Ok(match i {
            0 => response(
                202,
                serde_json::Value::Null,
                &[("location", "https://arm.example/op/2")],
            ),
            1 => response(202, serde_json::Value::Null, &[("retry-after", "4")]),
            _ => response(204, serde_json::Value::Null, &[]),
        })
    });
    let clock = FakeClock::at_unix(1);
    let c = client(t.clone(), clock.clone());
    let v = c
        .call(Method::DELETE, uai_url(&c), None, "deleting")
        .await
        .unwrap();
    assert!(v.is_null());
    assert_eq!(t.calls().len(), 3);
    assert_eq!(clock.sleeps()[1], Duration::from_secs(4));
}

#[tokio::test]
async fn failed_operations_and_unbounded_ones_end_with_errors() {
    let t = FakeTransport::new(|_, i| {
        Ok(match i {
            0 => response(
                202,
                serde_json::Value::Null,
                &[("azure-asyncoperation", "https://arm.example/op/3")],
            ),
            _ => response(
                200,
                json!({"status": "Failed", "error": {"code": "FailedIdentityOperation", "message": "Identity operation failed"}}),
                &[],
            ),
        })
    });
    let c = client(t, FakeClock::at_unix(1));
    let e = c
        .call(Method::PATCH, uai_url(&c), Some(&json!({})), "attaching")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServiceError);
    assert!(
        e.message.contains("FailedIdentityOperation"),
        "{}",
        e.message
    );

    let t = FakeTransport::new(|_, i| {
        Ok(match i {
            0 => response(
                201,
                json!({}),
                &[("azure-asyncoperation", "https://arm.example/op/4")],
            ),
            _ => response(
                200,
                json!({"status": "InProgress"}),
                &[("retry-after", "10")],
            ),
        })
    });
    let clock = FakeClock::at_unix(1);
    let c = client(t.clone(), clock.clone());
    let e = c
        .call(Method::PUT, uai_url(&c), Some(&json!({})), "creating")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    let total: Duration = clock.sleeps().iter().sum();
    assert!(
        total <= ArmClientOptions::default().lro_timeout,
        "{total:?}"
    );
    assert!(t.calls().len() > 5);
}

#[tokio::test]
async fn poll_urls_and_next_links_stay_on_the_arm_host() {
    let t = FakeTransport::script(vec![Ok(response(
        201,
        json!({}),
        &[("azure-asyncoperation", "https://evil.example/op")],
    ))]);
    let c = client(t.clone(), FakeClock::at_unix(1));
    let e = c
        .call(Method::PUT, uai_url(&c), Some(&json!({})), "x")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    assert_eq!(t.calls().len(), 1, "nothing sent to the other host");

    let t = FakeTransport::new(|req, _| {
        Ok(if req.url.query().unwrap_or("").contains("page=2") {
            response(200, json!({"value": [{"n": 2}]}), &[])
        } else {
            response(
                200,
                json!({"value": [{"n": 1}], "nextLink": "https://arm.example/subscriptions?api-version=2022-12-01&page=2"}),
                &[],
            )
        })
    });
    let c = client(t.clone(), FakeClock::at_unix(1));
    let url = c
        .url("/subscriptions", ResourceType::Subscriptions)
        .unwrap();
    let items = c.list(url, "listing").await.unwrap();
    assert_eq!(items, vec![json!({"n": 1}), json!({"n": 2})]);
}

#[tokio::test]
async fn tokens_never_go_over_plain_http_beyond_loopback() {
    let t = FakeTransport::new(|_, _| Ok(response(200, json!({}), &[])));
    let c = ArmClient::new(
        t.clone(),
        Arc::new(FakeClock::at_unix(1)),
        Url::parse("http://arm.example").unwrap(),
        Box::new(StaticToken::new(Secret::new(TOKEN))),
    );
    let url = c
        .url("/subscriptions", ResourceType::Subscriptions)
        .unwrap();
    let e = c.call(Method::GET, url, None, "x").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(t.calls().is_empty());
    no_secret(&e);
}

mod operations {
    use super::*;
    use crate::events::VecSink;

    const SUB: &str = "00000000-0000-0000-0000-0000000000a1";

    fn items(sink: &VecSink) -> Vec<serde_json::Value> {
        sink.items()
    }

    fn new_identity(location: &str) -> ArmOperation {
        ArmOperation {
            subscription: None,
            kind: ArmOperationKind::NewIdentity(identities::NewIdentity {
                name: "MI-AA-MgPowerShell1".into(),
                resource_group: "rg".into(),
                location: location.into(),
                ..Default::default()
            }),
        }
    }

    fn existing() -> serde_json::Value {
        json!({"id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/MI-AA-MgPowerShell1"),
               "name": "MI-AA-MgPowerShell1", "location": "uksouth",
               "properties": {"clientId": "cid", "principalId": "pid", "tenantId": "tid"}})
    }

    #[tokio::test]
    async fn the_only_visible_subscription_is_used_and_an_existing_identity_is_existing() {
        let t = FakeTransport::new(|req, _| {
            Ok(if req.url.path() == "/subscriptions" {
                response(
                    200,
                    json!({"value": [{"subscriptionId": SUB, "displayName": "One"}]}),
                    &[],
                )
            } else {
                assert_eq!(req.method, Method::GET, "nothing written");
                response(200, existing(), &[])
            })
        });
        let c = client(t.clone(), FakeClock::at_unix(1));
        let sink = VecSink::default();
        ops::run(new_identity("UK South"), None, &c, &sink)
            .await
            .unwrap();
        let rows = items(&sink);
        assert_eq!(rows[0]["status"], "Existing");
        assert_eq!(rows[0]["clientId"], "cid");
        assert_eq!(rows[0]["resourceGroupName"], "rg");
        assert!(t.calls()[1].url.contains(SUB));

        let e = ops::run(
            new_identity("westeurope"),
            Some(SUB),
            &c,
            &VecSink::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(
            e.message.contains("InvalidResourceLocation"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn several_subscriptions_are_listed_in_the_error() {
        let t = FakeTransport::script(vec![Ok(response(
            200,
            json!({"value": [{"subscriptionId": "s-1", "displayName": "A"}, {"subscriptionId": "s-2", "displayName": "B"}]}),
            &[],
        ))]);
        let c = client(t, FakeClock::at_unix(1));
        let e = ops::run(new_identity("uksouth"), None, &c, &VecSink::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AmbiguousName);
        assert!(
            e.message.contains("s-1 (A)") && e.message.contains("s-2 (B)"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_new_identity_is_put_with_the_normalized_location() {
        let t = FakeTransport::new(|req, _| {
            Ok(match req.method {
                Method::GET => response(
                    404,
                    json!({"error": {"code": "ResourceNotFound", "message": "no"}}),
                    &[],
                ),
                _ => response(201, existing(), &[]),
            })
        });
        let c = client(t.clone(), FakeClock::at_unix(1));
        let sink = VecSink::default();
        ops::run(new_identity("UK South"), Some(SUB), &c, &sink)
            .await
            .unwrap();
        assert_eq!(items(&sink)[0]["status"], "Created");
        let put = &t.calls()[1];
        assert_eq!(put.method, Method::PUT);
        assert_eq!(put.body.as_ref().unwrap()["location"], "uksouth");
    }

    #[tokio::test]
    async fn set_automation_identity_patches_only_the_change_and_what_if_writes_nothing() {
        let ua = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/MI-AA-MgPowerShell1");
        let ua2 = ua.clone();
        let t = FakeTransport::new(move |req, _| {
            Ok(match (req.method.clone(), req.url.path()) {
                (Method::GET, p) if p.contains("automationAccounts") => response(
                    200,
                    json!({"identity": {"type": "SystemAssigned", "principalId": "sys"}}),
                    &[],
                ),
                (Method::GET, _) => response(200, json!({"value": [existing()]}), &[]),
                (Method::PATCH, _) => response(
                    200,
                    json!({"identity": {"type": "SystemAssigned, UserAssigned", "principalId": "sys",
                    "userAssignedIdentities": {ua2.clone(): {"clientId": "cid", "principalId": "pid"}}}}),
                    &[],
                ),
                _ => response(500, json!({}), &[]),
            })
        });
        for what_if in [true, false] {
            let c = client(t.clone(), FakeClock::at_unix(1));
            let sink = VecSink::default();
            let op = ArmOperation {
                subscription: Some(SUB.into()),
                kind: ArmOperationKind::SetAutomationIdentity(automation::SetIdentity {
                    resource_group: "rg".into(),
                    account: "aa".into(),
                    add: vec!["mi-aa-mgpowershell1".into()],
                    what_if,
                    ..Default::default()
                }),
            };
            ops::run(op, None, &c, &sink).await.unwrap();
            let row = &items(&sink)[0];
            if what_if {
                assert_eq!(row["status"], "WhatIf");
                assert!(t.calls().iter().all(|c| c.method == Method::GET));
            } else {
                assert_eq!(row["status"], "Updated");
                assert_eq!(row["userAssigned"][0]["clientId"], "cid");
                // The system-assigned identity was on before: no new principal to wait for.
                assert!(row.get("principalCreated").is_none(), "{row}");
                let patch = t
                    .calls()
                    .into_iter()
                    .find(|c| c.method == Method::PATCH)
                    .unwrap();
                assert!(patch.url.ends_with("api-version=2023-11-01"));
                assert_eq!(
                    patch.body.unwrap(),
                    json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {ua.clone(): {}}}})
                );
            }
        }
    }
}
