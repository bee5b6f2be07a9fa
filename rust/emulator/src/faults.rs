//! Fault injection: rules registered through `POST /_emulator/faults`, matched per request.
//!
//! A `probability` fault is replayable: whether it hits a request is a pure function of the
//! emulator's `randomSeed`, the fault, the request's identity (method, path and query, body) and
//! how many times that same request has been seen (its attempt). Arrival order under concurrency
//! does not change the draw, so a failing run replays with the seed it printed.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::util::{self, Req, Resp};
use crate::{cloud_shell, entra, graph, managed_identity, msi_legacy, service_fabric};

/// What a request is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Imds,
    AppService,
    Automation,
    Arc,
    CloudShell,
    MachineLearning,
    ServiceFabric,
    Token,
    Graph,
    BatchItem,
    Control,
    Other,
    Arm,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Imds => "imds",
            Target::AppService => "appservice",
            Target::Automation => "automation",
            Target::Arc => "arc",
            Target::CloudShell => "cloudShell",
            Target::MachineLearning => "machineLearning",
            Target::ServiceFabric => "serviceFabric",
            Target::Token => "token",
            Target::Graph => "graph",
            Target::BatchItem => "batchItem",
            Target::Control => "control",
            Target::Other => "other",
            Target::Arm => "arm",
        }
    }

    /// A managed-identity token endpoint (subject to `miLatencyMs` and the platform cache).
    pub fn is_managed_identity(self) -> bool {
        matches!(
            self,
            Target::Imds
                | Target::AppService
                | Target::Automation
                | Target::Arc
                | Target::CloudShell
                | Target::MachineLearning
                | Target::ServiceFabric
        )
    }

    fn parse(s: &str) -> Option<Target> {
        [
            Target::Imds,
            Target::AppService,
            Target::Automation,
            Target::Arc,
            Target::CloudShell,
            Target::MachineLearning,
            Target::ServiceFabric,
            Target::Token,
            Target::Graph,
            Target::BatchItem,
            Target::Arm,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Status,
    Reset,
    Hang,
    Garbage,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Status => "status",
            Kind::Reset => "reset",
            Kind::Hang => "hang",
            Kind::Garbage => "garbage",
        }
    }
}

#[derive(Debug, Clone)]
struct Fault {
    id: u64,
    /// `None` = any HTTP-level target (not `$batch` items).
    target: Option<Target>,
    kind: Kind,
    status: u16,
    retry_after: Option<String>,
    body: Option<String>,
    hang_ms: u64,
    remaining: Option<u64>,
    probability: Option<f64>,
    method: Option<String>,
    path_contains: Option<String>,
}

/// What to do to a request hit by a fault.
#[derive(Debug, Clone)]
pub enum FaultAction {
    Status {
        status: u16,
        retry_after: Option<String>,
        body: Option<String>,
    },
    Reset,
    Hang(u64),
    Garbage,
}

/// The request a fault is drawn for: what makes two requests "the same request" (a retry).
#[derive(Debug, Clone, Copy)]
pub struct RequestIdentity<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

impl RequestIdentity<'_> {
    /// FNV-1a over the method, path and body: stable across runs and platforms.
    fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            self.method.as_bytes(),
            b"\0",
            self.path_and_query.as_bytes(),
            b"\0",
            self.body,
        ] {
            for &b in part {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
}

/// Attempts remembered per request; past this the memory is cleared (a long-running emulator).
const MAX_REMEMBERED_REQUESTS: usize = 1 << 20;

pub struct FaultBook {
    next_id: u64,
    faults: Vec<Fault>,
    seed: u64,
    /// Times each request (by identity hash) has been seen, for its attempt number.
    attempts: HashMap<u64, u32>,
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a fault of probability `p` hits: a uniform draw in [0, 1) from the four inputs.
fn draw(seed: u64, fault_id: u64, request: u64, attempt: u32, p: f64) -> bool {
    let x = mix(mix(mix(seed ^ mix(fault_id)) ^ request) ^ u64::from(attempt));
    // 53 random bits, as a float in [0, 1).
    ((x >> 11) as f64 / (1u64 << 53) as f64) < p
}

impl FaultBook {
    pub fn new(seed: u64) -> Self {
        FaultBook {
            next_id: 1,
            faults: Vec::new(),
            seed,
            attempts: HashMap::new(),
        }
    }

    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.attempts.clear();
    }

    pub fn clear(&mut self) {
        self.faults.clear();
        self.attempts.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|f| f.id != id);
        before != self.faults.len()
    }

    /// Registers a fault from its JSON description; returns its id.
    pub fn add(&mut self, v: &Value) -> Result<u64, String> {
        let obj = v.as_object().ok_or("fault must be a JSON object")?;
        const KNOWN: [&str; 10] = [
            "target",
            "kind",
            "status",
            "retryAfter",
            "body",
            "hangMs",
            "count",
            "probability",
            "method",
            "pathContains",
        ];
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("unknown fault field '{k}'"));
        }
        let str_field = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if name == "retryAfter" => Ok(Some(n.to_string())),
                Some(_) => Err(format!("'{name}' must be a string")),
            }
        };
        let num_field = |name: &str| -> Result<Option<f64>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| format!("'{name}' must be a number")),
                Some(_) => Err(format!("'{name}' must be a number")),
            }
        };
        let target = match str_field("target")?.as_deref() {
            None | Some("any") => None,
            Some(t) => Some(Target::parse(t).ok_or_else(|| format!("unknown target '{t}'"))?),
        };
        let kind = match str_field("kind")?.as_deref() {
            None | Some("status") => Kind::Status,
            Some("reset") => Kind::Reset,
            Some("hang") => Kind::Hang,
            Some("garbage") => Kind::Garbage,
            Some(k) => return Err(format!("unknown kind '{k}'")),
        };
        if target == Some(Target::BatchItem) && kind != Kind::Status {
            return Err("batchItem faults support kind 'status' only".into());
        }
        let status = match num_field("status")? {
            None => 500,
            Some(s) if (100.0..=599.0).contains(&s) && s.fract() == 0.0 => s as u16,
            Some(s) => return Err(format!("invalid status {s}")),
        };
        let count = num_field("count")?;
        let probability = num_field("probability")?;
        if count.is_some() && probability.is_some() {
            return Err("give either 'count' or 'probability', not both".into());
        }
        if let Some(p) = probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("'probability' must be between 0 and 1".into());
            }
        }
        let remaining = match count {
            Some(c) if c >= 1.0 && c.fract() == 0.0 => Some(c as u64),
            Some(c) => return Err(format!("invalid count {c}")),
            None if probability.is_some() => None,
            None => Some(1),
        };
        let hang_ms = match num_field("hangMs")? {
            None => 30_000,
            Some(h) if h >= 0.0 => h as u64,
            Some(h) => return Err(format!("invalid hangMs {h}")),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.faults.push(Fault {
            id,
            target,
            kind,
            status,
            retry_after: str_field("retryAfter")?,
            body: str_field("body")?,
            hang_ms,
            remaining,
            probability,
            method: str_field("method")?,
            path_contains: str_field("pathContains")?,
        });
        Ok(id)
    }

    pub fn list(&self) -> Value {
        Value::Array(
            self.faults
                .iter()
                .map(|f| {
                    json!({
                        "id": f.id,
                        "target": f.target.map(Target::name).unwrap_or("any"),
                        "kind": f.kind.name(),
                        "status": f.status,
                        "retryAfter": f.retry_after,
                        "body": f.body,
                        "hangMs": f.hang_ms,
                        "remaining": f.remaining,
                        "probability": f.probability,
                        "method": f.method,
                        "pathContains": f.path_contains,
                    })
                })
                .collect(),
        )
    }

    /// The first fault that applies to this request, consuming one of its `count`.
    pub fn take(&mut self, target: Target, request: RequestIdentity<'_>) -> Option<FaultAction> {
        let RequestIdentity {
            method,
            path_and_query,
            ..
        } = request;
        let request_hash = request.hash() ^ mix(target as u64);
        let attempt = {
            if self.attempts.len() >= MAX_REMEMBERED_REQUESTS {
                self.attempts.clear();
            }
            let n = self.attempts.entry(request_hash).or_insert(0);
            *n += 1;
            *n
        };
        let mut hit = None;
        for (i, f) in self.faults.iter().enumerate() {
            let target_ok = match f.target {
                None => target != Target::BatchItem && target != Target::Control,
                Some(t) => t == target,
            };
            if !target_ok
                || f.method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || f.path_contains
                    .as_deref()
                    .is_some_and(|p| !path_and_query.contains(p))
            {
                continue;
            }
            if let Some(p) = f.probability {
                if !draw(self.seed, f.id, request_hash, attempt, p) {
                    continue;
                }
            }
            hit = Some(i);
            break;
        }
        let i = hit?;
        let f = &mut self.faults[i];
        let action = match f.kind {
            Kind::Status => FaultAction::Status {
                status: f.status,
                retry_after: f.retry_after.clone(),
                body: f.body.clone(),
            },
            Kind::Reset => FaultAction::Reset,
            Kind::Hang => FaultAction::Hang(f.hang_ms),
            Kind::Garbage => FaultAction::Garbage,
        };
        if let Some(r) = f.remaining.as_mut() {
            *r -= 1;
            if *r == 0 {
                self.faults.remove(i);
            }
        }
        Some(action)
    }
}

/// The answer to a `status` fault: the target's natural error body unless one was given.
pub fn status_response(
    target: Target,
    status: u16,
    retry_after: Option<&str>,
    body: Option<&str>,
    req: &Req,
) -> Resp {
    let natural = match target {
        Target::Imds | Target::Arc => managed_identity::imds_status_error(status),
        Target::AppService | Target::Automation => managed_identity::kestrel_status_error(status),
        Target::CloudShell => cloud_shell::status_error(status),
        Target::MachineLearning => msi_legacy::status_error(status),
        Target::ServiceFabric => service_fabric::status_error(status),
        Target::Token => entra::status_error(status),
        Target::Graph | Target::BatchItem => graph::status_error(status, req),
        Target::Control | Target::Other => Resp::json(status, &json!({"error": status})),
        Target::Arm => crate::arm::error(
            status,
            if status == 429 {
                "TooManyRequests"
            } else {
                "InternalServerError"
            },
            "The request failed (injected fault).",
        ),
    };
    let mut resp = match body {
        Some(b) => {
            let mut r = util::raw_body_resp(status, b);
            // Keep identifying headers (Server, X-CORRELATION-ID, request-id) of the natural answer.
            r.headers.extend(
                natural
                    .headers
                    .into_iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type")),
            );
            r
        }
        None => natural,
    };
    if let Some(ra) = retry_after {
        resp = resp.set_header("Retry-After", ra);
    }
    resp
}

/// The `garbage` fault: what a misbehaving proxy in front of the service would send.
pub fn garbage() -> Resp {
    Resp::text(
        200,
        "text/html",
        "<html><body>upstream proxy error</body></html>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> RequestIdentity<'a> {
        RequestIdentity {
            method,
            path_and_query: path,
            body,
        }
    }

    #[test]
    fn count_is_consumed() {
        let mut book = FaultBook::new(0);
        book.add(&json!({"target":"imds","kind":"status","status":503,"count":2}))
            .unwrap();
        assert!(book
            .take(Target::Graph, req("GET", "/v1.0/x", b""))
            .is_none());
        assert!(book
            .take(Target::Imds, req("GET", "/metadata", b""))
            .is_some());
        assert!(book
            .take(Target::Imds, req("GET", "/metadata", b""))
            .is_some());
        assert!(book
            .take(Target::Imds, req("GET", "/metadata", b""))
            .is_none());
    }

    #[test]
    fn probability_is_deterministic() {
        let run = || {
            let mut book = FaultBook::new(42);
            book.add(&json!({"target":"any","probability":0.5}))
                .unwrap();
            (0..64)
                .map(|_| book.take(Target::Token, req("POST", "/t", b"")).is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }

    /// The draw for each request depends on the request and its attempt, not on what else
    /// arrived in between: two interleavings of the same requests get the same answers.
    #[test]
    fn draws_do_not_depend_on_arrival_order() {
        let requests: Vec<String> = (0..200).map(|i| format!("/v1.0/x/{i}")).collect();
        let run = |order: &mut dyn Iterator<Item = usize>| {
            let mut book = FaultBook::new(7);
            book.add(&json!({"target":"graph","kind":"reset","probability":0.3}))
                .unwrap();
            let mut hits = std::collections::BTreeMap::new();
            for i in order {
                let hit = book
                    .take(Target::Graph, req("POST", &requests[i], b"{}"))
                    .is_some();
                hits.entry(i).or_insert_with(Vec::new).push(hit);
            }
            hits
        };
        // Each request three times (three attempts), in request order and in a shuffled order.
        let forward = run(&mut (0..600).map(|n| n % 200));
        let mut shuffled: Vec<usize> = (0..600).map(|n| n % 200).collect();
        let mut state = 12345u64;
        for i in (1..shuffled.len()).rev() {
            state = mix(state);
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        assert_eq!(forward, run(&mut shuffled.into_iter()));
        // A retry is a new draw: some request fails its first attempt and passes a later one.
        assert!(forward.values().any(|h| h[0] && h[1..].iter().any(|x| !x)));
    }

    #[test]
    fn draws_follow_the_probability_and_the_seed() {
        let count = |seed: u64, p: f64| {
            let mut book = FaultBook::new(seed);
            book.add(&json!({"target":"graph","kind":"reset","probability":p}))
                .unwrap();
            (0..10_000)
                .filter(|i| {
                    book.take(Target::Graph, req("GET", &format!("/p/{i}"), b""))
                        .is_some()
                })
                .count()
        };
        let five = count(1, 0.05);
        assert!((400..600).contains(&five), "{five} of 10,000 at 5 %");
        assert_eq!(count(1, 0.0), 0);
        assert_eq!(count(1, 1.0), 10_000);
        assert_ne!(count(1, 0.5), count(2, 0.5), "the seed changes the draws");
    }

    #[test]
    fn rejects_bad_specs() {
        let mut book = FaultBook::new(0);
        assert!(book.add(&json!({"target":"nope"})).is_err());
        assert!(book
            .add(&json!({"target":"batchItem","kind":"reset"}))
            .is_err());
        assert!(book.add(&json!({"count":1,"probability":0.5})).is_err());
        assert!(book.add(&json!({"extra":1})).is_err());
    }
}
