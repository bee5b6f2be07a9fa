//! Request counters and the request log served by `GET /_emulator/stats`.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::faults::Target;
use crate::util::{self, Req};

const LOG_CAPACITY: usize = 1000;

/// Header names whose values never reach the log.
fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "x-identity-header" | "secret" | "cookie"
    ) || n.contains("secret")
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub imds: u64,
    pub appservice: u64,
    pub automation: u64,
    /// Azure Arc requests, both legs.
    pub arc: u64,
    /// Arc requests answered with a 401 challenge (each wrote a key file).
    pub arc_challenges: u64,
    /// Arc requests that carried an `Authorization` header (the second leg), whatever its value.
    pub arc_with_key: u64,
    pub cloud_shell: u64,
    pub machine_learning: u64,
    pub service_fabric: u64,
    pub token: u64,
    /// Graph HTTP requests (a `$batch` envelope counts once here).
    pub graph: u64,
    /// Graph POST/PATCH/PUT/DELETE, HTTP or inside `$batch` (the envelope is not a write).
    pub graph_writes: u64,
    /// Writes that changed state.
    pub graph_writes_applied: u64,
    /// ARM requests, and those with a write method (issue 11).
    pub arm: u64,
    pub arm_writes: u64,
    pub batches: u64,
    pub batch_items: u64,
    /// Requests to unknown paths.
    pub other: u64,
    /// Managed-identity token requests that carried `token_sha256_to_refresh` on a host that
    /// honours it (App Service, Automation, Service Fabric).
    pub platform_refresh_requests: u64,
    /// Of those, the ones whose hash named the cached token: it was dropped and a new one issued.
    pub platform_refreshes: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    target: &'static str,
    method: String,
    path: String,
    query: Map<String, Value>,
    headers: Map<String, Value>,
    status: u16,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub counters: Counters,
    log: VecDeque<Entry>,
    next_seq: u64,
}

impl Stats {
    /// Counts a request and logs it (status 0 until `finish`); returns its log sequence number.
    pub fn arrival(&mut self, target: Target, req: &Req) -> u64 {
        let c = &mut self.counters;
        let is_batch = req.path.trim_end_matches('/').ends_with("/$batch");
        match target {
            Target::Imds => c.imds += 1,
            Target::AppService => c.appservice += 1,
            Target::Automation => c.automation += 1,
            Target::Arc => {
                c.arc += 1;
                if req.header("authorization").is_some() {
                    c.arc_with_key += 1;
                }
            }
            Target::CloudShell => c.cloud_shell += 1,
            Target::MachineLearning => c.machine_learning += 1,
            Target::ServiceFabric => c.service_fabric += 1,
            Target::Token => c.token += 1,
            Target::Graph => {
                c.graph += 1;
                if is_batch {
                    c.batches += 1;
                }
            }
            Target::BatchItem => c.batch_items += 1,
            Target::Control => {}
            Target::Other => c.other += 1,
            Target::Arm => {
                c.arm += 1;
                if req.is_write() {
                    c.arm_writes += 1;
                }
            }
        }
        if matches!(target, Target::Graph | Target::BatchItem) && req.is_write() && !is_batch {
            c.graph_writes += 1;
        }
        let mut query = Map::new();
        for (k, v) in util::parse_form(&req.query) {
            query.insert(k, Value::String(v));
        }
        let mut headers = Map::new();
        for (name, value) in &req.headers {
            let name = name.to_ascii_lowercase();
            let value = if is_secret_header(&name) {
                "[redacted]".to_string()
            } else {
                value.clone()
            };
            match headers.get_mut(&name) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&value);
                }
                _ => {
                    headers.insert(name, Value::String(value));
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(Entry {
            seq,
            target: target.name(),
            method: req.method.clone(),
            path: req.path.clone(),
            query,
            headers,
            status: 0,
        });
        seq
    }

    /// Records the status a logged request was answered with (0 = no HTTP answer).
    pub fn finish(&mut self, seq: u64, status: u16) {
        if let Ok(i) = self.log.binary_search_by_key(&seq, |e| e.seq) {
            self.log[i].status = status;
        }
    }

    pub fn write_applied(&mut self) {
        self.counters.graph_writes_applied += 1;
    }

    pub fn to_json(&self) -> Value {
        let log: Vec<Value> = self
            .log
            .iter()
            .map(|e| {
                json!({
                    "target": e.target,
                    "method": e.method,
                    "path": e.path,
                    "query": e.query,
                    "headers": e.headers,
                    "status": e.status,
                })
            })
            .collect();
        json!({ "requests": self.counters, "log": log })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_orders() {
        let mut s = Stats::default();
        let req = Req {
            method: "GET".into(),
            path: "/msi/token".into(),
            query: "resource=https%3A%2F%2Fvault.azure.net".into(),
            headers: vec![
                ("x-identity-header".into(), "s3cret".into()),
                ("metadata".into(), "true".into()),
            ],
            body: Vec::new(),
            origin: String::new(),
        };
        let a = s.arrival(Target::AppService, &req);
        let b = s.arrival(Target::Imds, &req);
        s.finish(a, 200);
        let v = s.to_json();
        assert_eq!(v["log"][0]["headers"]["x-identity-header"], "[redacted]");
        assert_eq!(v["log"][0]["query"]["resource"], "https://vault.azure.net");
        assert_eq!(v["log"][0]["status"], 200);
        assert_eq!(v["log"][1]["status"], 0);
        assert_eq!(v["requests"]["appservice"], 1);
        assert!(b > a);
    }
}
