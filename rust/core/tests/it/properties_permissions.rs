//! Property test of the permission path matcher (issue 22): random ids, casing, hosts, versions
//! and query strings never change which template a request matches nor the permissions it
//! needs. Seeded (the seed is printed; MI_PROPTEST_SEED overrides it); arbitrary paths never
//! panic.

use managed_identity_core::permissions::{graph, Method, Scheme};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const CASES: u32 = 1024;

/// Real request shapes: `{}` is an id the request fills in.
const SHAPES: [(Method, &str); 12] = [
    (Method::Post, "/users/{}/sendMail"),
    (Method::Get, "/auditLogs/signIns"),
    (Method::Get, "/applications"),
    (Method::Get, "/applications/{}"),
    (Method::Post, "/servicePrincipals/{}/appRoleAssignments"),
    (Method::Post, "/servicePrincipals/{}/appRoleAssignedTo"),
    (Method::Get, "/users/{}/messages/{}"),
    (Method::Get, "/groups/{}/members"),
    (Method::Get, "/me/drive/items/{}/workbook/worksheets"),
    (Method::Delete, "/groups/{}/members/{}/$ref"),
    (Method::Get, "/users/{}/photo/$value"),
    (Method::Get, "/sites/{}/lists/{}/items"),
];

fn runner() -> TestRunner {
    let seed = crate::proptest_seed::seed("permission matcher", 0x5eed_2202);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[A-Za-z][A-Za-z0-9._-]{0,20}@[a-z]{1,10}\\.com",
        "[A-Za-z0-9!_-]{1,40}",
        "[0-9]{1,12}",
    ]
}

fn recase(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &f)| {
            if f {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// (templates, least application, least delegated) of a request.
fn answer(method: Method, uri: &str) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
    let data = graph().expect("data");
    let a = data.allowing(method, uri)?;
    let names = |s| {
        a.least(s)
            .iter()
            .map(|r| r.display())
            .collect::<Vec<String>>()
    };
    let mut templates: Vec<String> = a.templates.iter().map(|t| t.to_string()).collect();
    templates.sort();
    Some((
        templates,
        names(Scheme::Application),
        names(Scheme::DelegatedWork),
    ))
}

#[test]
fn random_ids_casing_hosts_and_queries_never_change_the_answer() {
    let strategy = (
        0..SHAPES.len(),
        prop::collection::vec(id(), 2),
        prop::collection::vec(any::<bool>(), 1..16),
        prop_oneof![
            Just(""),
            Just("/v1.0"),
            Just("/beta"),
            Just("https://graph.microsoft.com/v1.0"),
            Just("HTTPS://GRAPH.MICROSOFT.COM/beta"),
        ],
        prop_oneof![
            Just(String::new()),
            "\\?\\$(top|select|filter)=[a-zA-Z0-9 ']{0,20}".prop_map(|s| s),
        ],
    );
    runner()
        .run(&strategy, |(shape, ids, flips, prefix, query)| {
            let (method, template) = SHAPES[shape];
            let canonical = template.replace("{}", "{id}");
            let expected = answer(method, &canonical);
            prop_assert!(expected.is_some(), "{canonical} is in the data");
            let mut request = String::new();
            let mut ids = ids.iter();
            for (i, part) in template.split("{}").enumerate() {
                if i > 0 {
                    request.push_str(ids.next().map_or("x", String::as_str));
                }
                request.push_str(&recase(part, &flips));
            }
            let uri = format!("{prefix}{request}{query}");
            prop_assert_eq!(answer(method, &uri), expected, "{}", uri);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn arbitrary_paths_never_panic() {
    let data = graph().expect("data");
    runner()
        .run(&any::<String>(), |uri| {
            let _ = data.allowing(Method::Get, &uri);
            let _ = data.allowing(Method::Post, &format!("/users/{uri}/x"));
            Ok(())
        })
        .expect("no panic");
}
