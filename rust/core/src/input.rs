//! The inputs a caller gives the engine, as the domain names them. Core messages refer to an
//! input through [`Input`] (its `Display` is a placeholder such as `«ClientId»`), never by a
//! cmdlet parameter name: the protocol edge renders each placeholder as the parameter that
//! carries that input (`-ClientId`), from one table checked against the module.

use std::fmt;

/// One caller input named in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// Selects the managed-identity connection (`Connect-Identity -Identity`).
    ManagedIdentity,
    ClientId,
    ObjectId,
    ResourceId,
    AccessToken,
    /// The default or requested token resource.
    Resource,
    GraphEndpoint,
    /// The audience of Graph tokens (no cmdlet sets it).
    GraphResource,
    /// A bound on a wait, in seconds.
    Timeout,
    /// A Graph request's URI, method, body and paging switch.
    Uri,
    Method,
    Body,
    All,
    /// The Entra authority host of a sign-in (no cmdlet sets it yet).
    AuthorityHost,
    /// The ARM endpoint and default subscription of a context.
    ResourceManagerEndpoint,
    SubscriptionId,
    /// An Entra sign-in's tenant, cloud, secrets, certificate and federated token.
    TenantId,
    Environment,
    ClientSecret,
    Credential,
    CertificatePath,
    CertificatePassword,
    Certificate,
    CertificateThumbprint,
    FederatedTokenFile,
    /// A delegated sign-in's permissions and its device-code switch.
    Scopes,
    UseDeviceCode,
    /// The identity an app-role command names (a grant's, a revoke's, an audit's).
    Identity,
    /// The permissions an app-role command or a token check names.
    Permission,
    /// A token check's switches: ask for a new token; wait until the permission is in it.
    Refresh,
    Wait,
}

impl Input {
    /// Every input, for table checks.
    pub const ALL: [Input; 31] = [
        Input::ManagedIdentity,
        Input::ClientId,
        Input::ObjectId,
        Input::ResourceId,
        Input::AccessToken,
        Input::Resource,
        Input::GraphEndpoint,
        Input::GraphResource,
        Input::Timeout,
        Input::Uri,
        Input::Method,
        Input::Body,
        Input::All,
        Input::AuthorityHost,
        Input::ResourceManagerEndpoint,
        Input::SubscriptionId,
        Input::TenantId,
        Input::Environment,
        Input::ClientSecret,
        Input::Credential,
        Input::CertificatePath,
        Input::CertificatePassword,
        Input::Certificate,
        Input::CertificateThumbprint,
        Input::FederatedTokenFile,
        Input::Scopes,
        Input::UseDeviceCode,
        Input::Identity,
        Input::Permission,
        Input::Refresh,
        Input::Wait,
    ];

    /// The name inside the placeholder.
    pub fn name(self) -> &'static str {
        match self {
            Input::ManagedIdentity => "ManagedIdentity",
            Input::ClientId => "ClientId",
            Input::ObjectId => "ObjectId",
            Input::ResourceId => "ResourceId",
            Input::AccessToken => "AccessToken",
            Input::Resource => "Resource",
            Input::GraphEndpoint => "GraphEndpoint",
            Input::GraphResource => "GraphResource",
            Input::Timeout => "Timeout",
            Input::Uri => "Uri",
            Input::Method => "Method",
            Input::Body => "Body",
            Input::All => "All",
            Input::AuthorityHost => "AuthorityHost",
            Input::ResourceManagerEndpoint => "ResourceManagerEndpoint",
            Input::SubscriptionId => "SubscriptionId",
            Input::TenantId => "TenantId",
            Input::Environment => "Environment",
            Input::ClientSecret => "ClientSecret",
            Input::Credential => "Credential",
            Input::CertificatePath => "CertificatePath",
            Input::CertificatePassword => "CertificatePassword",
            Input::Certificate => "Certificate",
            Input::CertificateThumbprint => "CertificateThumbprint",
            Input::FederatedTokenFile => "FederatedTokenFile",
            Input::Scopes => "Scopes",
            Input::UseDeviceCode => "UseDeviceCode",
            Input::Identity => "Identity",
            Input::Permission => "Permission",
            Input::Refresh => "Refresh",
            Input::Wait => "Wait",
        }
    }

    pub fn from_name(name: &str) -> Option<Input> {
        Input::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// Opens a placeholder.
pub const OPEN: char = '«';
/// Closes a placeholder.
pub const CLOSE: char = '»';

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OPEN}{}{CLOSE}", self.name())
    }
}

/// Replaces every placeholder in `text` with `name(input)`; unknown placeholders stay as they are.
pub fn render(text: &str, name: impl Fn(Input) -> String) -> String {
    if !text.contains(OPEN) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len_utf8()..];
        match after
            .find(CLOSE)
            .and_then(|end| Input::from_name(&after[..end]).map(|i| (i, end)))
        {
            Some((input, end)) => {
                out.push_str(&name(input));
                rest = &after[end + CLOSE.len_utf8()..];
            }
            None => {
                out.push(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_and_unknown_ones_stay() {
        let text = format!(
            "{} '{}' is bad; use {}",
            Input::ClientId,
            "x",
            Input::ObjectId
        );
        assert_eq!(text, "«ClientId» 'x' is bad; use «ObjectId»");
        assert_eq!(
            render(&text, |i| format!("-{}", i.name())),
            "-ClientId 'x' is bad; use -ObjectId"
        );
        assert_eq!(render("«Nope» and «", |_| String::new()), "«Nope» and «");
        assert_eq!(render("plain", |_| String::new()), "plain");
        for input in Input::ALL {
            assert_eq!(Input::from_name(input.name()), Some(input));
        }
    }
}
