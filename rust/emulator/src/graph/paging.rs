//! List query options (`$filter`, `$select`, `$top`, `$count`, `$skiptoken`) and paging with
//! opaque `@odata.nextLink` URLs.

use serde_json::{json, Map, Value};

use super::{Ctx, GraphResponse};
use crate::util::{self, Req};

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 999;
const SKIPTOKEN_PREFIX: &str = "mi-emulator-offset:";

/// Parsed list options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub filter: Option<String>,
    /// Canonical property names.
    pub select: Option<Vec<String>>,
    pub page_size: usize,
    pub offset: usize,
    /// `$count=true` with `ConsistencyLevel: eventual`.
    pub count: bool,
    /// Advanced operators allowed (same condition as `count`).
    pub advanced_ok: bool,
}

fn encode_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '$' | '-' | '_' | '.'))
    {
        k.to_string()
    } else {
        util::encode_component(k)
    }
}

/// Parses the query options of a list request. `props` are the entity's property names (for
/// `$select`), `type_name` its OData type (for messages).
pub fn options(
    req: &Req,
    ctx: &Ctx,
    default_page: Option<usize>,
    props: &[&str],
    type_name: &str,
) -> Result<ListOptions, GraphResponse> {
    let params = req.params();
    for (i, (k, _)) in params.iter().enumerate() {
        if k.starts_with('$') && params[..i].iter().any(|(p, _)| p == k) {
            return Err(ctx.error(
                400,
                "BadRequest",
                &format!("Query option '{k}' was specified more than once."),
            ));
        }
        if k.starts_with('$')
            && !matches!(
                k.as_str(),
                "$filter" | "$select" | "$top" | "$count" | "$skiptoken"
            )
        {
            return Err(ctx.error(
                400,
                "Request_UnsupportedQuery",
                &format!("Query option '{k}' is not supported by the emulator."),
            ));
        }
    }
    let consistency = req
        .header("consistencylevel")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
    let count_requested = match util::param(&params, "$count") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ctx.bad_request(&format!("Invalid value '{v}' for query option '$count'.")))
        }
    };
    let page_size = match util::param(&params, "$top") {
        None => default_page.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(ctx.bad_request(&format!(
                    "Invalid page size specified: '{v}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
                )))
            }
        },
    };
    let offset = match util::param(&params, "$skiptoken") {
        None => 0,
        Some(t) => util::b64url_decode(t)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix(SKIPTOKEN_PREFIX)
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .ok_or_else(|| ctx.bad_request("Invalid skip token."))?,
    };
    let select = match util::param(&params, "$select") {
        None => None,
        Some(s) => {
            let mut out = Vec::new();
            for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let Some(canonical) = props.iter().find(|p| p.eq_ignore_ascii_case(name)) else {
                    return Err(ctx.bad_request(&format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'."
                    )));
                };
                if !out.iter().any(|o: &String| o == canonical) {
                    out.push(canonical.to_string());
                }
            }
            (!out.is_empty()).then_some(out)
        }
    };
    Ok(ListOptions {
        filter: util::param(&params, "$filter").map(str::to_string),
        select,
        page_size,
        offset,
        count: count_requested && consistency,
        advanced_ok: count_requested && consistency,
    })
}

/// Keeps only the selected properties of an object.
pub fn project(v: Value, select: Option<&[String]>) -> Value {
    match (select, v) {
        (Some(sel), Value::Object(obj)) => {
            let mut out = Map::new();
            for name in sel {
                if let Some(x) = obj.get(name) {
                    out.insert(name.clone(), x.clone());
                }
            }
            Value::Object(out)
        }
        (_, v) => v,
    }
}

/// `@odata.context` fragment with a `$select` list: `servicePrincipals(id,appId)`.
pub fn context_fragment(base: &str, select: Option<&[String]>) -> String {
    match select {
        Some(sel) => format!("{base}({})", sel.join(",")),
        None => base.to_string(),
    }
}

/// One page of `items` (already filtered) as a Graph collection.
pub fn page(
    items: Vec<Value>,
    opts: &ListOptions,
    ctx: &Ctx,
    req: &Req,
    context: String,
) -> GraphResponse {
    let total = items.len();
    let start = opts.offset.min(total);
    let end = (start + opts.page_size).min(total);
    let value: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(end - start)
        .map(|v| project(v, opts.select.as_deref()))
        .collect();
    let mut body = json!({ "@odata.context": context, "value": value });
    if opts.count && opts.offset == 0 {
        body["@odata.count"] = json!(total);
    }
    if end < total {
        let mut query: Vec<String> = util::parse_form(&req.query)
            .into_iter()
            .filter(|(k, _)| k != "$skiptoken")
            .map(|(k, v)| format!("{}={}", encode_key(&k), util::encode_component(&v)))
            .collect();
        let token = util::b64url(format!("{SKIPTOKEN_PREFIX}{end}").as_bytes());
        query.push(format!("$skiptoken={token}"));
        body["@odata.nextLink"] = json!(format!("{}{}?{}", ctx.origin, req.path, query.join("&")));
    }
    GraphResponse::new(200, Some(body))
}
