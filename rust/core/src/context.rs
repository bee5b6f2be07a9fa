//! Contexts: a credential plus the endpoints it is used with. (Skeleton: the MI helper
//! completes this file; the signatures below are the contract other modules rely on.)

use serde_json::Value;
use url::Url;

use crate::api::Services;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::secret::Secret;
use crate::token::AccessToken;

pub struct Context {
    graph_endpoint: Url,
    graph_resource: String,
}

pub async fn connect(_args: Value, _secret: Option<Secret>, _svc: &Services, _sink: &dyn EventSink) -> Result<Context> {
    Err(Error::internal("connect is not implemented yet"))
}

pub async fn token_operation(_ctx: &Context, _args: &Value, _svc: &Services, _sink: &dyn EventSink) -> Result<Value> {
    Err(Error::internal("identity.token is not implemented yet"))
}

pub async fn test_endpoints(_args: &Value, _svc: &Services, _sink: &dyn EventSink) -> Result<Value> {
    Err(Error::internal("identity.testEndpoint is not implemented yet"))
}

impl Context {
    /// Properties shown by Get-IdentityContext (fetches a token for the default resource when
    /// none is cached, to read its claims; warns through `sink` when the token has no roles).
    pub async fn describe(&self, _svc: &Services, _sink: &dyn EventSink) -> Result<Value> {
        Err(Error::internal("describe is not implemented yet"))
    }
    /// A token for `resource` (default: the context's default resource), from the process-wide
    /// cache when fresh; single-flight per (identity, resource).
    pub async fn token(&self, _resource: Option<&str>, _force_refresh: bool, _svc: &Services, _sink: &dyn EventSink) -> Result<AccessToken> {
        Err(Error::internal("token is not implemented yet"))
    }
    /// A fresh cached token without any I/O.
    pub fn cached_token(&self, _resource: Option<&str>, _svc: &Services) -> Option<Secret> {
        None
    }
    /// Graph base URL, e.g. `https://graph.microsoft.com` or an emulator's loopback URL.
    pub fn graph_endpoint(&self) -> &Url {
        &self.graph_endpoint
    }
    /// The resource (audience) of Graph tokens, e.g. `https://graph.microsoft.com`.
    pub fn graph_resource(&self) -> &str {
        &self.graph_resource
    }
}
