//! Long-running operations (ARM's async pattern): a write answered 201/202 with
//! `Azure-AsyncOperation` is polled until its status is terminal, then the resource is read
//! back; one answered 202 with only `Location` is polled until the location stops answering
//! 202. Polling honours `Retry-After`, stays on the ARM host, and is bounded by
//! `lro_timeout`; dropping the future cancels it.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::client::ArmClient;
use super::errors::ArmErrorInfo;
use super::resource::{self, OperationStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{retry_after, HttpResponse};

/// The state an `Azure-AsyncOperation` status body reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsyncStatus {
    Running,
    Succeeded,
    /// Failed or Canceled, with ARM's error object if any.
    Failed {
        status: String,
        error: Value,
    },
}

/// Reads `{"status": …, "error": {…}}`. Unknown or missing statuses count as running
/// (ARM lets providers add their own non-terminal states).
pub fn parse_async_status(body: &Value) -> AsyncStatus {
    let document: OperationStatus = resource::parse(body);
    let status = document.status.unwrap_or_default();
    if status.eq_ignore_ascii_case("Succeeded") {
        AsyncStatus::Succeeded
    } else if status.eq_ignore_ascii_case("Failed") || status.eq_ignore_ascii_case("Canceled") {
        AsyncStatus::Failed {
            status,
            error: document.error,
        }
    } else {
        AsyncStatus::Running
    }
}

fn header<'r>(resp: &'r HttpResponse, name: &str) -> Option<&'r str> {
    resp.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
}

impl ArmClient<'_> {
    /// Sends a request (with retries), checks it and follows a long-running operation to its
    /// end. Returns the final resource body (`Null` for a delete or an empty answer).
    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value> {
        let resp = self.send(method.clone(), url.clone(), body).await?;
        let first = self.check(&resp, what)?;
        if !matches!(resp.status, 201 | 202) {
            return Ok(first);
        }
        let async_op = header(&resp, "azure-asyncoperation");
        let location = header(&resp, "location");
        if async_op.is_none() && location.is_none() {
            return Ok(first);
        }
        let async_op = async_op
            .map(|u| self.checked_service_url(u, "operation status URL"))
            .transpose()?;
        let location = location
            .map(|u| self.checked_service_url(u, "operation location"))
            .transpose()?;
        let started = self.clock().now();
        let mut wait = self.poll_wait(&resp);
        match async_op {
            Some(status_url) => {
                loop {
                    self.wait_within(started, wait, what).await?;
                    let poll = self.send(Method::GET, status_url.clone(), None).await?;
                    let status_body = self.check(&poll, what)?;
                    match parse_async_status(&status_body) {
                        AsyncStatus::Running => wait = self.poll_wait(&poll),
                        AsyncStatus::Succeeded => break,
                        AsyncStatus::Failed { status, error } => {
                            return Err(failed(status, &error, what));
                        }
                    }
                }
                if matches!(method, Method::PUT | Method::PATCH) {
                    let resp = self.send(Method::GET, url, None).await?;
                    return self.check(&resp, what);
                }
                match location {
                    Some(l) => {
                        let resp = self.send(Method::GET, l, None).await?;
                        self.check(&resp, what)
                    }
                    None => Ok(Value::Null),
                }
            }
            None => {
                let location = location.ok_or_else(|| Error::internal("no poll URL"))?;
                loop {
                    self.wait_within(started, wait, what).await?;
                    let poll = self.send(Method::GET, location.clone(), None).await?;
                    if poll.status == 202 {
                        wait = self.poll_wait(&poll);
                        continue;
                    }
                    return self.check(&poll, what);
                }
            }
        }
    }

    fn poll_wait(&self, resp: &HttpResponse) -> Duration {
        retry_after(&resp.headers, self.clock().now()).unwrap_or(self.options().lro_poll_interval)
    }

    /// Sleeps `wait` unless that would end past the operation's bound.
    async fn wait_within(
        &self,
        started: std::time::SystemTime,
        wait: Duration,
        what: &str,
    ) -> Result<()> {
        let elapsed = self
            .clock()
            .now()
            .duration_since(started)
            .unwrap_or_default();
        let limit = self.options().lro_timeout;
        if elapsed.saturating_add(wait) > limit {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: Azure Resource Manager still reports the operation running after {} s; \
                     it may still complete: check the resource before trying again",
                    elapsed.as_secs()
                ),
            ));
        }
        self.clock().sleep(wait).await;
        Ok(())
    }
}

fn failed(status: String, error: &Value, what: &str) -> Error {
    let body = serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default();
    let info = ArmErrorInfo::parse(200, &reqwest::header::HeaderMap::new(), &body);
    let code = info.code.clone();
    let text = info
        .message
        .unwrap_or_else(|| "no error message".to_string());
    let mut message = format!("{what} failed: the operation ended {status}: {text}");
    if let Some(c) = &code {
        message.push_str(&format!(" ({c})"));
    }
    Error::new(ErrorKind::ServiceError, message)
        .with_details(serde_json::json!({"status": status, "code": code}))
}
