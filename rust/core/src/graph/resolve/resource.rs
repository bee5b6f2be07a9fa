//! The resource API a permission belongs to: alias, first-party name, appId, object id, service
//! principal name or exact display name, with the first-party ownership check.

use serde_json::json;

use super::{ambiguous, parse_guid};
use crate::error::{Error, ErrorKind, Result};
use crate::graph::client::GraphClient;
use crate::graph::errors::Access;
use crate::graph::first_party::FirstParty;
use crate::graph::model::{ServicePrincipal, MICROSOFT_TENANT_ID, RESOURCE_SELECT};
use crate::graph::odata::{ApiPath, Filter};

/// Resolves the resource API's service principal (with its app roles) and checks that anything
/// presenting itself as a Microsoft first-party API really is one.
pub async fn resolve_resource(
    client: &GraphClient<'_>,
    input: Option<&str>,
) -> Result<ServicePrincipal> {
    let input = input
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("Graph");
    let what = format!("looking up the resource '{input}'");
    let host = client.base().host_str().unwrap_or("").to_ascii_lowercase();
    let mut expected = FirstParty::by_alias_or_name(input);
    let sp = if let Some(fp) = expected {
        let app_id = parse_guid(fp.app_id_for(&host))
            .ok_or_else(|| Error::internal("bad well-known appId"))?;
        get_optional(
            client,
            ApiPath::new("servicePrincipals").alternate_key("appId", app_id),
            &what,
        )
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "The service principal of '{}' (appId {app_id}) does not exist in this tenant.",
                    fp.names[0]
                ),
            )
        })?
    } else if let Some(g) = parse_guid(input) {
        expected = FirstParty::by_app_id(&g.to_string());
        match get_optional(
            client,
            ApiPath::new("servicePrincipals").alternate_key("appId", g),
            &what,
        )
        .await?
        {
            Some(sp) => sp,
            None => get_optional(client, ApiPath::new("servicePrincipals").id(g), &what)
                .await?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("No service principal has the appId or object id '{g}'."),
                    )
                })?,
        }
    } else {
        let by_uri = input.contains("://");
        let filter = if by_uri {
            Filter::any_eq("servicePrincipalNames", input)
        } else {
            Filter::eq("displayName", input)
        };
        let path = ApiPath::new("servicePrincipals")
            .filter(filter)
            .select(RESOURCE_SELECT);
        let mut found = Vec::new();
        client
            .get_pages(
                client.url(&path)?,
                Default::default(),
                Access::Read,
                &what,
                |page| found.extend(page),
            )
            .await?;
        let mut candidates = Vec::new();
        for v in &found {
            let sp = ServicePrincipal::from_value(v)?;
            let matches = if by_uri {
                sp.service_principal_names
                    .iter()
                    .flatten()
                    .any(|n| n.eq_ignore_ascii_case(input))
            } else {
                sp.name().eq_ignore_ascii_case(input)
            };
            if matches {
                candidates.push(sp);
            }
        }
        match candidates.len() {
            0 => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("No service principal is named '{input}'. Use an alias (Graph, Exchange, SharePoint, KeyVault, ARM), an appId or an object id."),
                ))
            }
            1 => candidates.remove(0),
            _ => return Err(ambiguous(input, &candidates)),
        }
    };
    let expected = expected
        .or_else(|| FirstParty::by_name(sp.name()))
        .or_else(|| sp.app_id.as_deref().and_then(FirstParty::by_app_id));
    if let Some(fp) = expected {
        check_first_party(&sp, fp)?;
    }
    Ok(sp)
}

fn check_first_party(sp: &ServicePrincipal, fp: &FirstParty) -> Result<()> {
    let owner = sp.app_owner_organization_id.as_deref().unwrap_or("");
    let app_id = sp.app_id.as_deref().unwrap_or("");
    let looks_like = if FirstParty::by_name(sp.name()).is_some() {
        sp.name()
    } else {
        fp.names[0]
    };
    let details = json!({
        "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "expectedAppIds": fp.app_ids, "expectedOwner": MICROSOFT_TENANT_ID,
    });
    if !owner.eq_ignore_ascii_case(MICROSOFT_TENANT_ID) {
        let owner = if owner.is_empty() { "(none)" } else { owner };
        return Err(Error::new(
            ErrorKind::UntrustedResource,
            format!(
                "The service principal '{}' (appId {app_id}, id {}) is named '{looks_like}' but is owned by tenant {owner}, \
                 not Microsoft ({MICROSOFT_TENANT_ID}); refusing to use it.",
                sp.name(),
                sp.id
            ),
        )
        .with_details(details));
    }
    if !fp.app_ids.iter().any(|a| a.eq_ignore_ascii_case(app_id)) {
        return Err(Error::new(
            ErrorKind::UntrustedResource,
            format!(
                "The service principal '{}' (id {}) is named '{looks_like}' but its appId is {app_id}, not the well-known {}; refusing to use it.",
                sp.name(),
                sp.id,
                fp.app_ids.join(" or ")
            ),
        )
        .with_details(details));
    }
    Ok(())
}

/// GET a single service principal; 404 → `None`.
async fn get_optional(
    client: &GraphClient<'_>,
    path: ApiPath,
    what: &str,
) -> Result<Option<ServicePrincipal>> {
    let url = client.url(&path.select(RESOURCE_SELECT))?;
    let resp = client
        .send(
            reqwest::Method::GET,
            url.clone(),
            Default::default(),
            None,
            crate::graph::Resend::Safe,
        )
        .await?;
    if resp.status == 404 {
        return Ok(None);
    }
    let body = client.check(&resp, &reqwest::Method::GET, &url, Access::Read, what)?;
    ServicePrincipal::from_value(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::resolve::testing::*;

    #[test]
    fn first_party_checks() {
        let fp = FirstParty::by_alias_or_name("graph").unwrap();
        assert!(check_first_party(&graph(), fp).is_ok());
        let mut fake = graph();
        fake.app_owner_organization_id = Some("0badc0de-0000-4000-8000-00000000f00d".into());
        let e = check_first_party(&fake, fp).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UntrustedResource);
        assert!(
            e.message
                .contains("is named 'Microsoft Graph' but is owned by tenant 0badc0de"),
            "{}",
            e.message
        );
        let mut wrong_app = graph();
        wrong_app.app_id = Some("d15ea5ed-0000-4000-8000-00000000bad1".into());
        assert_eq!(
            check_first_party(&wrong_app, fp).unwrap_err().kind,
            ErrorKind::UntrustedResource
        );
        let kv = FirstParty::by_alias_or_name("KEYVAULT").unwrap();
        assert_eq!(
            kv.app_id_for("graph.microsoft.us"),
            "7e7c393b-45d0-48b1-a35e-2905ddf8183c"
        );
        assert_eq!(
            kv.app_id_for("graph.microsoft.com"),
            "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
        );
    }
}
