//! Accept loops (HTTP, and HTTPS for Service Fabric) and the per-request pipeline:
//! classify → log → fault → gate/latency → handler.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that a request can abort its
//! own connection (the `reset` fault) and shutdown can drop hung requests at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::faults::{self, FaultAction, Target};
use crate::state::{lock, App};
use crate::util::{Req, Resp};
use crate::{
    arc, arm, cloud_shell, control, entra, graph, managed_identity, msi_legacy, service_fabric,
};

const MAX_BODY: usize = 8 * 1024 * 1024;

/// What a listener serves.
pub enum Listener {
    /// Plain HTTP: every route but Service Fabric.
    Http,
    /// HTTPS with the emulator's self-signed certificate: Service Fabric (and the control API).
    ServiceFabric(TlsAcceptor),
    /// HTTPS with the same certificate, serving what `Http` serves (`--tls`): for clients that
    /// insist on https (MSAL-based tools pointed at the emulator's authority).
    Https(TlsAcceptor),
    /// Plain HTTP on Cloud Shell's fixed port: `POST /oauth2/token` is the Cloud Shell route
    /// (what MSAL posts to at `http://localhost:50342/oauth2/token`); everything else as `Http`.
    CloudShell,
}

/// How a connection's requests are routed and which origin they were asked at.
#[derive(Clone, Copy)]
struct Served {
    service_fabric: bool,
    cloud_shell: bool,
    https: bool,
    local: std::net::SocketAddr,
}

pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
    kind: Listener,
) {
    let (tls, service_fabric, cloud_shell) = match kind {
        Listener::Http => (None, false, false),
        Listener::ServiceFabric(acceptor) => (Some(acceptor), true, false),
        Listener::Https(acceptor) => (Some(acceptor), false, false),
        Listener::CloudShell => (None, false, true),
    };
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let served = Served {
        service_fabric,
        cloud_shell,
        https: tls.is_some(),
        local,
    };
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let stop = stop.clone();
                match &tls {
                    None => {
                        conns.spawn(connection(TokioIo::new(stream), app, stop, served));
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        conns.spawn(async move {
                            // A client that refuses the certificate (wrong thumbprint) ends here.
                            let handshake = tokio::time::timeout(
                                Duration::from_secs(10),
                                acceptor.accept(stream),
                            );
                            if let Ok(Ok(tls_stream)) = handshake.await {
                                connection(TokioIo::new(tls_stream), app, stop, served)
                                    .await;
                            }
                        });
                    }
                }
            }
        }
    }
    // Dropping the JoinSet aborts every connection task (hung requests included).
    conns.shutdown().await;
}

/// Serves one HTTP/1.1 connection until it closes, a request aborts it, or the emulator stops.
async fn connection<I>(io: I, app: Arc<App>, mut stop: watch::Receiver<bool>, served: Served)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let abort = Arc::new(Notify::new());
    let svc_abort = abort.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        let abort = svc_abort.clone();
        async move { Ok::<_, Infallible>(handle(app, abort, req, served).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::select! {
        _ = conn => {}
        _ = abort.notified() => {}
        _ = stop.changed() => {}
    }
}

fn classify(path: &str, service_fabric: bool, cloud_shell: bool) -> Target {
    let lower = path.to_ascii_lowercase();
    let first = lower
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if lower.starts_with("/_emulator/") || lower == "/_emulator" {
        Target::Control
    } else if service_fabric {
        Target::ServiceFabric
    } else if cloud_shell && lower.trim_end_matches('/') == cloud_shell::FIXED_PATH {
        Target::CloudShell
    } else if first == "arc" {
        Target::Arc
    } else if lower.trim_end_matches('/') == cloud_shell::PATH {
        Target::CloudShell
    } else if lower.trim_end_matches('/') == msi_legacy::PATH {
        Target::MachineLearning
    } else if first == "metadata" {
        Target::Imds
    } else if lower.trim_end_matches('/') == "/msi/token" {
        Target::AppService
    } else if lower.trim_end_matches('/') == "/automation/token" {
        Target::Automation
    } else if entra::is_token_path(path) {
        Target::Token
    } else if first == "v1.0" || first == "beta" {
        Target::Graph
    } else if arm::is_arm_path(path) {
        Target::Arm
    } else {
        Target::Other
    }
}

/// `scheme://host[:port]` the request was sent to: the listener's scheme and the `Host` header
/// when it is a plain `host[:port]` (real Entra and Graph answer with URLs on the host that was
/// asked), else the listener's own address.
fn origin(req: &Req, served: Served) -> String {
    let scheme = if served.https { "https" } else { "http" };
    let fallback = || format!("{scheme}://{}", served.local);
    let Some(host) = req.header("host").map(str::trim).filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    }) else {
        return fallback();
    };
    // Only what parses back to exactly that authority (no user info, path or stray colons).
    match url::Url::parse(&format!("{scheme}://{host}/")) {
        Ok(u) if u.host_str().is_some() && u.path() == "/" => {
            let authority = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            };
            if authority.eq_ignore_ascii_case(host) {
                format!("{scheme}://{authority}")
            } else {
                fallback()
            }
        }
        _ => fallback(),
    }
}

fn to_response(r: Resp) -> Response<Body> {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

/// Answer of a request that no fault replaced.
fn answer(app: &App, target: Target, req: &Req) -> Resp {
    match target {
        Target::Imds => managed_identity::imds(app, req),
        Target::AppService => managed_identity::app_service(app, req),
        Target::Automation => managed_identity::automation(app, req),
        Target::Arc => arc::handle(app, req),
        Target::CloudShell => cloud_shell::handle(app, req),
        Target::MachineLearning => msi_legacy::handle(app, req),
        Target::ServiceFabric => service_fabric::handle(app, req),
        Target::Token => entra::handle(app, req),
        Target::Graph => graph::http(app, req),
        Target::Arm => arm::handle(app, req),
        Target::Control => control::handle(app, req),
        Target::BatchItem | Target::Other => Resp::json(
            404,
            &serde_json::json!({"error": "not_found", "path": req.path}),
        ),
    }
}

async fn handle(
    app: Arc<App>,
    abort: Arc<Notify>,
    req: Request<Incoming>,
    served: Served,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return to_response(Resp::json(
                413,
                &serde_json::json!({"error": "request body too large"}),
            ))
        }
    };
    let req = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        origin: String::new(),
    };
    let req = Req {
        origin: origin(&req, served),
        ..req
    };
    let target = classify(&req.path, served.service_fabric, served.cloud_shell);
    if target == Target::Control {
        return to_response(control::handle(&app, &req));
    }

    let seq = lock(&app.stats).arrival(target, &req);
    let fault = lock(&app.faults).take(target, req.identity(&req.path_and_query()));
    if let Some(FaultAction::Hang(ms)) = fault {
        // Before the concurrency gate, so a hung request never blocks others.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let latency = {
        let cfg = lock(&app.cfg);
        match target {
            Target::Graph => cfg.latency_ms,
            t if t.is_managed_identity() => cfg.mi_latency_ms,
            _ => 0,
        }
    };
    let gate = (target == Target::Graph).then(|| lock(&app.gate).sem.clone());
    let _permit = match &gate {
        Some(sem) => sem.clone().acquire_owned().await.ok(),
        None => None,
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let resp = match fault {
        Some(FaultAction::Status {
            status,
            retry_after,
            body,
        }) => faults::status_response(
            target,
            status,
            retry_after.as_deref(),
            body.as_deref(),
            &req,
        ),
        Some(FaultAction::Garbage) => faults::garbage(),
        Some(FaultAction::Reset) => {
            lock(&app.stats).finish(seq, 0);
            drop(_permit);
            // The connection task drops the socket; this future is dropped with it.
            abort.notify_one();
            return std::future::pending::<Response<Body>>().await;
        }
        Some(FaultAction::Hang(_)) | None => answer(&app, target, &req),
    };
    lock(&app.stats).finish(seq, resp.status);
    to_response(resp)
}
