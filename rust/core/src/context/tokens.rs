//! The one adapter from a context to the service clients: a [`TokenProvider`] yielding the
//! context's tokens for one resource (Graph's or ARM's audience), through the process-wide cache.
//! Service clients take a `TokenProvider`, never a `Context`.

use futures::future::BoxFuture;

use super::Context;
use crate::error::Result;
use crate::events::EventSink;
use crate::secret::Secret;
use crate::services::Services;
use crate::token::{AccessToken, PlatformCache, RenewedToken, TokenProvider};

/// Tokens of `ctx` for `resource`.
pub struct ContextTokens<'a> {
    ctx: &'a Context,
    resource: String,
    svc: &'a Services,
    sink: &'a dyn EventSink,
}

impl<'a> ContextTokens<'a> {
    /// For the context's Graph resource.
    pub fn graph(ctx: &'a Context, svc: &'a Services, sink: &'a dyn EventSink) -> Self {
        let resource = ctx.graph_resource().to_string();
        ContextTokens {
            ctx,
            resource,
            svc,
            sink,
        }
    }

    /// For the context's ARM audience.
    pub fn arm(ctx: &'a Context, svc: &'a Services, sink: &'a dyn EventSink) -> Self {
        let resource = ctx.arm().resource.clone();
        ContextTokens {
            ctx,
            resource,
            svc,
            sink,
        }
    }
}

impl TokenProvider for ContextTokens<'_> {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret>> {
        Box::pin(async move {
            let token = self
                .ctx
                .token(Some(&self.resource), false, self.svc, self.sink)
                .await?;
            Ok(token.secret)
        })
    }

    fn current(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(
            self.ctx
                .token(Some(&self.resource), false, self.svc, self.sink),
        )
    }

    fn platform_cache(&self) -> PlatformCache {
        self.ctx.platform_cache()
    }

    fn renew(&self) -> BoxFuture<'_, Result<RenewedToken>> {
        Box::pin(
            self.ctx
                .renew_token(Some(&self.resource), self.svc, self.sink),
        )
    }
}
