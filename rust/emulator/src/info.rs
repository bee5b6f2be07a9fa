//! `GET /_emulator/info` (and `--info-file`): every host's endpoint and the exact environment a
//! client sets to use it.

use serde_json::{json, Value};

use crate::state::{lock, App};
use crate::{arc, cloud_shell, managed_identity, msi_legacy, seed};

pub fn info_json(app: &App) -> Value {
    let base = &app.base_url;
    let header = lock(&app.cfg).identity_header.clone();
    let sf = &app.service_fabric;
    let imds = format!("{base}{}", managed_identity::IMDS_TOKEN_PATH);
    let app_service = format!("{base}/msi/token");
    let automation = format!("{base}/automation/token");
    let arc_endpoint = format!("{base}{}", arc::PATH);
    let cloud_shell = format!("{base}{}", cloud_shell::PATH);
    let ml = format!("{base}{}", msi_legacy::PATH);
    let sf_endpoint = format!("{}{}", sf.base_url, managed_identity::IMDS_TOKEN_PATH);
    // Entra over https when `--tls` is on: azure-identity accepts only https authorities and
    // MSAL only https endpoints. The plain base stays usable (`httpAuthorityHost`).
    let authority = app.https_base_url.as_deref().unwrap_or(base);
    json!({
        "baseUrl": base,
        "httpsBaseUrl": app.https_base_url,
        "identityHeader": header,
        "hosts": {
            "imds": {
                "endpoint": imds,
                "environment": {"AZURE_POD_IDENTITY_AUTHORITY_HOST": base},
            },
            "appService": {
                "endpoint": app_service,
                "environment": {"IDENTITY_ENDPOINT": app_service, "IDENTITY_HEADER": header},
            },
            "automation": {
                "endpoint": automation,
                "environment": {
                    "IDENTITY_ENDPOINT": automation,
                    "IDENTITY_HEADER": header,
                    "AZUREPS_HOST_ENVIRONMENT": "AzureAutomation",
                },
            },
            "arc": {
                "endpoint": arc_endpoint,
                "tokenDirectory": app.config().client_paths.show(app.arc_dir()),
                "environment": {
                    "IDENTITY_ENDPOINT": arc_endpoint,
                    "IMDS_ENDPOINT": format!("{base}{}", arc::IMDS_PREFIX),
                },
            },
            "cloudShell": {
                "endpoint": cloud_shell,
                // MSAL Python ignores MSI_ENDPOINT and posts to Cloud Shell's fixed URL; this
                // listener (`--cloud-shell-port`) answers there.
                "fixedEndpoint": app.cloud_shell_base_url.as_ref().map(|b| format!("{b}{}", cloud_shell::FIXED_PATH)),
                "environment": {"MSI_ENDPOINT": cloud_shell, "AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"},
            },
            "machineLearning": {
                "endpoint": ml,
                "environment": {
                    "MSI_ENDPOINT": ml,
                    "MSI_SECRET": header,
                    "DEFAULT_IDENTITY_CLIENT_ID": seed::SYSTEM_IDENTITY.client_id,
                },
            },
            "serviceFabric": {
                "endpoint": sf_endpoint,
                "baseUrl": sf.base_url,
                "thumbprint": sf.thumbprint,
                "certificatePem": sf.certificate_pem,
                "environment": {
                    "IDENTITY_ENDPOINT": sf_endpoint,
                    "IDENTITY_HEADER": header,
                    "IDENTITY_SERVER_THUMBPRINT": sf.thumbprint,
                },
            },
            "entra": {
                "authorityHost": authority,
                "httpAuthorityHost": base,
                "authority": format!("{authority}/{}", seed::TENANT_ID),
                "tokenEndpoint": format!("{authority}/{}/oauth2/v2.0/token", seed::TENANT_ID),
                "environment": {"AZURE_AUTHORITY_HOST": authority, "AZURE_TENANT_ID": seed::TENANT_ID},
            },
        },
    })
}
