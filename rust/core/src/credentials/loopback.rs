//! The loopback redirect listener for the browser sign-in: listens on `127.0.0.1` only, on a
//! free port, and is registered as `http://localhost:<port>` (what Entra allows public clients
//! for any port). It answers requests until one carries the authorization response (`code` or
//! `error`), checks its `state`, answers the browser with a small page and returns the code.
//! Each connection's request head is bounded in size and time; the whole wait is bounded by the
//! caller's timeout on the injected clock and cancelled by dropping the future.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// Largest request head read from the browser.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request head.
pub const CONNECTION_READ_TIMEOUT: Duration = Duration::from_secs(10);

const DONE_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ManagedIdentity</title></head><body><h3>Signed in.</h3><p>You can close this window and return to PowerShell.</p></body></html>";
const FAILED_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ManagedIdentity</title></head><body><h3>Sign-in failed.</h3><p>Return to PowerShell for the details.</p></body></html>";

/// What a browser request to the redirect URI means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectOutcome {
    /// The authorization code, `state` matched.
    Code(Secret),
    /// Entra (or the user) refused: `error` and its description.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// A response whose `state` is not ours (a forged or stale redirect).
    StateMismatch,
    /// Not an authorization response (e.g. `/favicon.ico`): answered 404 and ignored.
    Ignored,
}

/// Interprets one request head (pure).
pub fn parse_redirect_request(head: &str, expected_state: &str) -> RedirectOutcome {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return RedirectOutcome::Ignored;
    };
    if method != "GET" {
        return RedirectOutcome::Ignored;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/" {
        return RedirectOutcome::Ignored;
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if code.is_none() && error.is_none() {
        return RedirectOutcome::Ignored;
    }
    if state.as_deref() != Some(expected_state) {
        return RedirectOutcome::StateMismatch;
    }
    match (code, error) {
        (_, Some(error)) => RedirectOutcome::Refused { error, description },
        (Some(code), None) if !code.is_empty() => RedirectOutcome::Code(Secret::new(code)),
        _ => RedirectOutcome::Ignored,
    }
}

/// A bound listener waiting for the browser.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:0` (a free port chosen by the OS).
    pub async fn bind() -> Result<LoopbackListener> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            Error::new(
                ErrorKind::ConnectionFailed,
                format!("cannot listen on a loopback port for the browser sign-in: {e}"),
            )
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("no local address: {e}")))?
            .port();
        Ok(LoopbackListener { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:<port>`: the redirect URI sent to Entra.
    pub fn redirect_uri(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Waits for the authorization response; `Timeout` after `timeout` on `clock`.
    pub async fn wait_for_code(
        &self,
        expected_state: &str,
        clock: &dyn Clock,
        timeout: Duration,
    ) -> Result<Secret> {
        tokio::select! {
            result = self.serve(expected_state) => result,
            _ = clock.sleep(timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!("the browser sign-in was not completed within {} s", timeout.as_secs()),
            )),
        }
    }

    async fn serve(&self, expected_state: &str) -> Result<Secret> {
        loop {
            let Ok((mut stream, _)) = self.listener.accept().await else {
                continue;
            };
            let head =
                match tokio::time::timeout(CONNECTION_READ_TIMEOUT, read_head(&mut stream)).await {
                    Ok(Some(head)) => head,
                    _ => continue,
                };
            match parse_redirect_request(&head, expected_state) {
                RedirectOutcome::Ignored => {
                    answer(&mut stream, "404 Not Found", "").await;
                }
                RedirectOutcome::Code(code) => {
                    answer(&mut stream, "200 OK", DONE_PAGE).await;
                    return Ok(code);
                }
                RedirectOutcome::StateMismatch => {
                    answer(&mut stream, "400 Bad Request", FAILED_PAGE).await;
                    return Err(Error::new(
                        ErrorKind::AuthenticationFailed,
                        "the browser sign-in's answer carried a different state than the request (a stale or forged redirect); sign in again",
                    ));
                }
                RedirectOutcome::Refused { error, description } => {
                    answer(&mut stream, "200 OK", FAILED_PAGE).await;
                    let first = description
                        .as_deref()
                        .and_then(|d| d.lines().next())
                        .map(|d| format!(": {}", d.chars().take(300).collect::<String>()))
                        .unwrap_or_default();
                    return Err(Error::new(
                        ErrorKind::AuthenticationFailed,
                        format!(
                            "the browser sign-in was refused ({}){first}",
                            error.chars().take(64).collect::<String>()
                        ),
                    ));
                }
            }
        }
    }
}

/// Reads up to the end of the request head (`\r\n\r\n`), at most [`MAX_REQUEST_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_REQUEST_HEAD {
            break;
        }
    }
    buf.truncate(MAX_REQUEST_HEAD);
    String::from_utf8(buf).ok()
}

async fn answer(stream: &mut TcpStream, status: &str, page: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    // The browser may already have gone; nothing to do about it.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FakeClock, SystemClock};

    #[test]
    fn redirect_requests_are_interpreted() {
        let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(
            parse_redirect_request(&get("/?code=abc&state=s1"), "s1"),
            RedirectOutcome::Code(Secret::new("abc"))
        );
        assert_eq!(
            parse_redirect_request(&get("/?code=abc&state=other"), "s1"),
            RedirectOutcome::StateMismatch
        );
        assert_eq!(
            parse_redirect_request(&get("/?code=abc"), "s1"),
            RedirectOutcome::StateMismatch
        );
        assert_eq!(
            parse_redirect_request(
                &get("/?error=access_denied&error_description=no+way&state=s1"),
                "s1"
            ),
            RedirectOutcome::Refused {
                error: "access_denied".into(),
                description: Some("no way".into())
            }
        );
        assert_eq!(
            parse_redirect_request(&get("/favicon.ico"), "s1"),
            RedirectOutcome::Ignored
        );
        assert_eq!(
            parse_redirect_request(&get("/"), "s1"),
            RedirectOutcome::Ignored
        );
        assert_eq!(
            parse_redirect_request("POST /?code=a&state=s1 HTTP/1.1", "s1"),
            RedirectOutcome::Ignored
        );
        assert_eq!(parse_redirect_request("", "s1"), RedirectOutcome::Ignored);
    }

    async fn browser_get(url: String) -> (u16, String) {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    #[tokio::test]
    async fn the_listener_returns_the_code_and_answers_the_browser() {
        let listener = LoopbackListener::bind().await.unwrap();
        assert!(listener.redirect_uri().starts_with("http://localhost:"));
        let port = listener.port();
        let browser = tokio::spawn(async move {
            let favicon = browser_get(format!("http://127.0.0.1:{port}/favicon.ico")).await;
            let page =
                browser_get(format!("http://127.0.0.1:{port}/?code=the-code&state=st")).await;
            (favicon, page)
        });
        let code = listener
            .wait_for_code("st", &SystemClock, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(code.expose(), "the-code");
        let ((favicon_status, _), (status, page)) = browser.await.unwrap();
        assert_eq!(favicon_status, 404);
        assert_eq!(status, 200);
        assert!(page.contains("Signed in"));
    }

    #[tokio::test]
    async fn a_state_mismatch_is_refused() {
        let listener = LoopbackListener::bind().await.unwrap();
        let port = listener.port();
        let browser = tokio::spawn(browser_get(format!(
            "http://127.0.0.1:{port}/?code=stolen&state=forged"
        )));
        let e = listener
            .wait_for_code("st", &SystemClock, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(e.message.contains("state"), "{}", e.message);
        assert!(!e.message.contains("stolen"));
        assert_eq!(browser.await.unwrap().0, 400);
    }

    #[tokio::test]
    async fn the_wait_is_bounded_by_the_clock() {
        let listener = LoopbackListener::bind().await.unwrap();
        let clock = FakeClock::at_unix(0);
        let e = listener
            .wait_for_code("st", &clock, Duration::from_secs(120))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(120)]);
    }
}
