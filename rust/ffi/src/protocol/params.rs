//! The one table of cmdlet parameters that core messages mention: each domain [`Input`] is
//! rendered as the parameter that carries it (`«Timeout»` → `-TimeoutSec`). `engine.info`
//! exports the table (`parameterNames`) so a module test can check every entry against the
//! commands' real parameters.

use serde::Serialize;

use managed_identity_core::input::{self, Input};

/// One cmdlet parameter a message may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParameterName {
    pub command: &'static str,
    pub parameter: &'static str,
}

macro_rules! p {
    ($command:literal, $parameter:literal) => {
        ParameterName {
            command: $command,
            parameter: $parameter,
        }
    };
}

/// The parameters that carry an input, first the one messages name. Empty: no cmdlet sets it.
pub fn parameters(input: Input) -> &'static [ParameterName] {
    match input {
        Input::ManagedIdentity => &[p!("Connect-Identity", "Identity")],
        Input::ClientId => &[p!("Connect-Identity", "ClientId")],
        Input::ObjectId => &[p!("Connect-Identity", "ObjectId")],
        Input::ResourceId => &[p!("Connect-Identity", "ResourceId")],
        Input::AccessToken => &[p!("Connect-Identity", "AccessToken")],
        Input::Resource => &[
            p!("Connect-Identity", "Resource"),
            p!("Get-IdentityToken", "Resource"),
        ],
        Input::GraphEndpoint => &[p!("Connect-Identity", "GraphEndpoint")],
        Input::GraphResource => &[],
        Input::AuthorityHost => &[p!("Connect-Identity", "AuthorityHost")],
        Input::Timeout => &[
            p!("Connect-Identity", "TimeoutSec"),
            p!("Test-IdentityEndpoint", "TimeoutSec"),
        ],
        Input::Uri => &[p!("Invoke-GraphApiRequest", "Uri")],
        Input::Method => &[p!("Invoke-GraphApiRequest", "Method")],
        Input::Body => &[p!("Invoke-GraphApiRequest", "Body")],
        Input::All => &[p!("Invoke-GraphApiRequest", "All")],
        Input::ResourceManagerEndpoint => &[p!("Connect-Identity", "ResourceManagerEndpoint")],
        Input::SubscriptionId => &[p!("Connect-Identity", "SubscriptionId")],
        Input::TenantId => &[p!("Connect-Identity", "TenantId")],
        Input::Environment => &[p!("Connect-Identity", "Environment")],
        Input::ClientSecret => &[p!("Connect-Identity", "ClientSecret")],
        Input::Credential => &[p!("Connect-Identity", "Credential")],
        Input::CertificatePath => &[p!("Connect-Identity", "CertificatePath")],
        Input::CertificatePassword => &[p!("Connect-Identity", "CertificatePassword")],
        Input::Certificate => &[p!("Connect-Identity", "Certificate")],
        Input::CertificateThumbprint => &[p!("Connect-Identity", "CertificateThumbprint")],
        Input::FederatedTokenFile => &[p!("Connect-Identity", "FederatedTokenFile")],
        Input::Scopes => &[p!("Connect-Identity", "Scopes")],
        Input::UseDeviceCode => &[p!("Connect-Identity", "UseDeviceCode")],
        Input::Identity => &[
            p!("Grant-GraphAppRole", "Identity"),
            p!("Revoke-GraphAppRole", "Identity"),
            p!("Set-GraphAppRole", "Identity"),
        ],
        Input::Permission => &[
            p!("Grant-GraphAppRole", "Permission"),
            p!("Test-IdentityPermission", "Permission"),
        ],
        Input::Refresh => &[p!("Test-IdentityPermission", "Refresh")],
        Input::Wait => &[p!("Test-IdentityPermission", "Wait")],
    }
}

/// How a message names an input: `-TimeoutSec`, or a description when no parameter sets it.
pub fn display(input: Input) -> String {
    match parameters(input).first() {
        Some(name) => format!("-{}", name.parameter),
        None => match input {
            Input::GraphResource => "the Graph resource".to_string(),
            other => other.name().to_string(),
        },
    }
}

/// A core message with every input placeholder rendered as its parameter.
pub fn render(text: &str) -> String {
    input::render(text, display)
}

/// Renders the placeholders in every string of an output row or an error's details (their
/// reasons and recommended commands name parameters too).
pub fn render_value(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains(input::OPEN) => *text = render(text),
        Value::Array(items) => items.iter_mut().for_each(render_value),
        Value::Object(fields) => fields.values_mut().for_each(render_value),
        _ => {}
    }
}

/// Every (command, parameter) pair the table knows, for `engine.info`.
pub fn all() -> Vec<ParameterName> {
    Input::ALL
        .into_iter()
        .flat_map(|i| parameters(i).iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_real_parameters() {
        assert_eq!(display(Input::Timeout), "-TimeoutSec");
        assert_eq!(display(Input::ClientId), "-ClientId");
        assert_eq!(
            render(&format!(
                "raise {} or pass {}",
                Input::Timeout,
                Input::GraphResource
            )),
            "raise -TimeoutSec or pass the Graph resource"
        );
        let names = all();
        assert!(names.contains(&p!("Connect-Identity", "TimeoutSec")));
        assert!(names.iter().all(|n| n.parameter != "TimeoutSeconds"));
        assert!(names.iter().all(|n| n.parameter != "GraphResource"));
        assert!(names.iter().all(|n| n.command != "Invoke-GraphRequest"));
    }

    #[test]
    fn rows_and_details_render_every_string_and_nothing_else() {
        let mut row = serde_json::json!({
            "reason": format!("run Test-IdentityPermission {} Mail.Send {}", Input::Permission, Input::Refresh),
            "nested": [{"fix": format!("Grant-GraphAppRole {} x", Input::Identity)}],
            "name": "«NotAnInput» stays",
            "count": 3
        });
        render_value(&mut row);
        assert_eq!(
            row,
            serde_json::json!({
                "reason": "run Test-IdentityPermission -Permission Mail.Send -Refresh",
                "nested": [{"fix": "Grant-GraphAppRole -Identity x"}],
                "name": "«NotAnInput» stays",
                "count": 3
            })
        );
    }
}
