//! Building a context: `identity.connect` (validate every input before any request, then get a
//! token for the default resource, which proves the identity and fills the cache) and
//! `identity.testEndpoint`.

use url::Url;

use super::arm::ArmSettings;
use super::options::{
    selector_arg, timeout_arg, ConnectMethod, ConnectOptions, TestEndpointOptions,
    DEFAULT_PROBE_SECONDS, DEFAULT_TIMEOUT_SECONDS,
};
use super::{Context, DEFAULT_GRAPH_ENDPOINT, DEFAULT_GRAPH_RESOURCE};
use crate::cache::CacheKey;
use crate::credentials::sign_in::{self, SignInMethod, SignInRequest};
use crate::credentials::static_token::StaticToken;
use crate::credentials::TokenCredential;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{verbose, warn, EventSink};
use crate::http::proxy::ProxySettings;
use crate::input::Input;
use crate::secret::Secret;
use crate::services::Services;
use crate::sources::{
    detect, Detection, IdentitySelector, ManagedIdentityCredential, ManagedIo, SourceKind,
};
use crate::token::normalize_resource;

/// Where a new context's Graph calls go and what its tokens are for, validated before any
/// credential is built; every kind of connection starts from it.
pub(crate) struct Targets {
    pub graph_endpoint: Url,
    pub graph_resource: String,
    /// `-Resource`, when given.
    pub resource: Option<String>,
}

impl Targets {
    /// `-Resource`, else the Graph resource.
    fn default_resource(&self) -> String {
        self.resource
            .clone()
            .unwrap_or_else(|| self.graph_resource.clone())
    }

    /// A context over `credential` whose default resource is `default_resource` (ARM settings
    /// are set by [`connect`]).
    fn context(&self, default_resource: String, credential: Box<dyn TokenCredential>) -> Context {
        Context {
            graph_endpoint: self.graph_endpoint.clone(),
            graph_resource: self.graph_resource.clone(),
            default_resource,
            credential,
            arm: Default::default(),
        }
    }
}

/// Issue 10 and `-AccessToken`: a context over the token the caller hands over.
fn connect_static(
    secret: Option<Secret>,
    targets: Targets,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let token = StaticToken::new(
        secret,
        targets.resource.clone(),
        &targets.graph_resource,
        svc.clock.clone(),
        sink,
    )?;
    Ok(targets.context(token.default_resource().to_string(), Box::new(token)))
}

/// `identity.connect`: builds a context and acquires a token for its default resource (which
/// validates the identity and fills the cache).
pub async fn connect(
    args: ConnectOptions,
    secret: Option<Secret>,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    // The host's proxy variables apply to the process's service clients (issue 8.2).
    svc.http
        .set_proxy(ProxySettings::from_env(&args.environment));
    // A sign-in's -Environment picks the Graph endpoint and resource of its cloud.
    let cloud = if args.method.is_sign_in() {
        Some(sign_in::cloud_of(&args.sign_in)?)
    } else {
        None
    };
    let cloud_graph = cloud.map(|c| c.endpoints().graph);
    let graph_endpoint = crate::http::validate_service_endpoint(
        args.graph_endpoint
            .as_deref()
            .or(cloud_graph)
            .unwrap_or(DEFAULT_GRAPH_ENDPOINT),
        Input::GraphEndpoint,
    )?;
    let graph_resource = normalize_resource(
        args.graph_resource
            .as_deref()
            .or(cloud_graph)
            .unwrap_or(DEFAULT_GRAPH_RESOURCE),
        Input::GraphResource,
    )?;
    let resource = args
        .resource
        .as_deref()
        .map(|r| normalize_resource(r, Input::Resource))
        .transpose()?;
    // A sign-in's -Environment picks its cloud's Resource Manager too.
    let arm = ArmSettings::from_options(
        args.resource_manager_endpoint
            .as_deref()
            .or(cloud.map(|c| c.endpoints().resource_manager)),
        args.subscription_id.as_deref(),
    )?;
    let targets = Targets {
        graph_endpoint,
        graph_resource,
        resource,
    };
    let mut ctx = match args.method {
        ConnectMethod::ManagedIdentity => connect_managed(args, targets, svc, sink).await,
        ConnectMethod::AccessToken => connect_static(secret, targets, svc, sink),
        ConnectMethod::SignIn(method) => {
            connect_sign_in(args, method, cloud.unwrap_or_default(), targets, svc, sink).await
        }
    }?;
    ctx.arm = arm;
    Ok(ctx)
}

/// Issue 10: a service principal, delegated or Azure CLI context. The interactive sign-ins
/// run here; their first token is cached, so the proof below costs no request.
async fn connect_sign_in(
    args: ConnectOptions,
    method: SignInMethod,
    cloud: crate::credentials::Cloud,
    targets: Targets,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let timeout = args
        .timeout_seconds
        .map(|t| timeout_arg(Some(t), DEFAULT_TIMEOUT_SECONDS))
        .transpose()?;
    let request = SignInRequest {
        method,
        client_id: args.client_id.as_deref(),
        options: &args.sign_in,
        environment: &args.environment,
        cloud,
        graph_resource: &targets.graph_resource,
        timeout,
        transport: svc.service_transport.clone(),
        clock: svc.clock.clone(),
    };
    let (credential, first) = sign_in::sign_in(request, sink).await?;
    if let Some(first) = first {
        let key = CacheKey::new(
            credential.cache_identity().unwrap_or_default().to_string(),
            normalize_resource(&first.resource, Input::Resource)?,
        );
        svc.cache
            .get_or_fetch(&key, true, sink, || async move { Ok(first) })
            .await?;
    }
    let ctx = targets.context(targets.default_resource(), Box::new(credential));
    ctx.token(None, false, svc, sink).await?;
    Ok(ctx)
}

async fn connect_managed(
    args: ConnectOptions,
    targets: Targets,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let selector = selector_arg(&args)?;
    let timeout = timeout_arg(args.timeout_seconds, DEFAULT_TIMEOUT_SECONDS)?;
    let detection = detect(&args.environment);
    if detection.chosen.signs_in() {
        return connect_workload_identity(args, selector, targets, svc, sink).await;
    }
    let io = ManagedIo {
        transport: svc.mi_transport.clone(),
        clock: svc.clock.clone(),
        first_contact: svc.first_contact.clone(),
    };
    let credential = detection.credential(selector.clone(), timeout, io)?;
    let default_resource = targets.default_resource();
    let context = |credential: ManagedIdentityCredential| {
        targets.context(default_resource.clone(), Box::new(credential))
    };
    let ctx = context(credential.clone());
    let error = match ctx.token(None, false, svc, sink).await {
        Ok(_) => return Ok(ctx),
        Err(error) => error,
    };
    // The seed tutorial's mistake: the identity's object id passed to -ClientId.
    let IdentitySelector::ClientId(id) = &selector else {
        return Err(error);
    };
    let as_object_id = IdentitySelector::ObjectId(id.clone());
    let as_object_id = match credential.reselect(as_object_id) {
        Some(retry) if error.kind == ErrorKind::IdentityNotFound => retry,
        _ => return Err(error),
    };
    let retry = context(as_object_id);
    match retry.token(None, false, svc, sink).await {
        Ok(token) => {
            let client_id = token.claims.as_ref().and_then(|c| c.appid.clone());
            warn(
                sink,
                format!(
                    "'{id}' is the identity's object id, not its client id; use {} {id} ({}). Connected with it as the object id.",
                    Input::ObjectId,
                    match client_id {
                        Some(client_id) => format!("its client id is {client_id}, which is what {} expects", Input::ClientId),
                        None => format!("{} expects the identity's client (application) id", Input::ClientId),
                    }
                ),
            );
            Ok(retry)
        }
        Err(second) if second.kind == ErrorKind::IdentityNotFound => {
            let mut error = error;
            error.message.push_str(&format!(
                " ('{id}' is not the object id of an attached identity either.)"
            ));
            Err(error)
        }
        Err(_) => Err(error),
    }
}

/// `-Identity` where workload identity federation is configured (AKS and other federated
/// hosts): no endpoint to call, so, as Azure.Identity's ManagedIdentityCredential does, it signs
/// in with the federated token file, the tenant in `AZURE_TENANT_ID` and the client id given
/// with -ClientId or else `AZURE_CLIENT_ID`. An object or resource id cannot select one.
async fn connect_workload_identity(
    args: ConnectOptions,
    selector: IdentitySelector,
    targets: Targets,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    if let IdentitySelector::ObjectId(_) | IdentitySelector::ResourceId(_) = &selector {
        return Err(Error::new(
            ErrorKind::UnsupportedIdentityKind,
            format!(
                "{} cannot select an identity by {}; use {} (or set AZURE_CLIENT_ID)",
                SourceKind::WorkloadIdentity.display(),
                selector.input().map_or(String::new(), |i| i.to_string()),
                Input::ClientId
            ),
        ));
    }
    verbose(
        sink,
        "Workload identity federation is configured (AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID): signing in with its federated token.",
    );
    // The sign-in takes the client id the selector validated (trimmed, a GUID), never the
    // text as it arrived.
    let client_id = match selector {
        IdentitySelector::ClientId(id) => Some(id),
        _ => None,
    };
    connect_sign_in(
        ConnectOptions { client_id, ..args },
        SignInMethod::WorkloadIdentity,
        crate::credentials::Cloud::default(),
        targets,
        svc,
        sink,
    )
    .await
}

/// `identity.testEndpoint`: which source is here, and why not the others (probes included).
pub async fn test_endpoints(args: TestEndpointOptions, svc: &Services) -> Result<Detection> {
    let timeout = timeout_arg(args.timeout_seconds, DEFAULT_PROBE_SECONDS)?;
    let mut detection = detect(&args.environment);
    detection.probe(svc.mi_transport.as_ref(), timeout).await;
    Ok(detection)
}
