//! Typed OData query building. Lookups are never built by string interpolation: property names
//! are compile-time constants, string literals are quoted with every `'` doubled, GUID-typed
//! properties take unquoted [`Uuid`] values, and every query value is percent-encoded (RFC 3986)
//! when it is put into the URL.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use uuid::Uuid;

/// Characters percent-encoded in a query value: everything except RFC 3986 unreserved
/// characters and a few delimiters that are harmless inside a value and keep filters readable.
/// `'`, space, `&`, `#`, `+`, `=`, `%`, `;` and every non-ASCII byte are always encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'/');

/// Percent-encodes one query value.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// An OData literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `Edm.String`: single-quoted, `'` doubled.
    String(String),
    /// `Edm.Guid`: unquoted (quoting a GUID-typed property is a 400 "Invalid filter clause").
    Guid(Uuid),
}

impl Literal {
    pub fn string(value: impl Into<String>) -> Self {
        Literal::String(value.into())
    }

    /// The literal as it appears inside a filter expression.
    pub fn render(&self) -> String {
        match self {
            Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
            Literal::Guid(g) => g.hyphenated().to_string(),
        }
    }
}

impl From<Uuid> for Literal {
    fn from(value: Uuid) -> Self {
        Literal::Guid(value)
    }
}

impl From<&str> for Literal {
    fn from(value: &str) -> Self {
        Literal::String(value.to_string())
    }
}

/// A `$filter` expression. Property names are `&'static str`: only code, never input, names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    /// `{property} eq {literal}`.
    pub fn eq(property: &'static str, value: impl Into<Literal>) -> Self {
        Filter(format!("{property} eq {}", value.into().render()))
    }

    /// `{collection}/any(x:x eq {literal})`, e.g. for `alternativeNames`.
    pub fn any_eq(collection: &'static str, value: impl Into<Literal>) -> Self {
        Filter(format!(
            "{collection}/any(x:x eq {})",
            value.into().render()
        ))
    }

    /// `({self}) and ({other})`.
    pub fn and(self, other: Filter) -> Self {
        Filter(format!("({}) and ({})", self.0, other.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Graph API path relative to the version root (`/v1.0`), with a query. Renders to the
/// relative URL used inside `$batch` (`/servicePrincipals?$filter=…`), which the client also
/// resolves against `{endpoint}/v1.0` for single requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiPath {
    path: String,
    query: Vec<(&'static str, String)>,
}

impl ApiPath {
    /// `/{segment}` for a constant segment, e.g. `ApiPath::new("servicePrincipals")`.
    pub fn new(segment: &'static str) -> Self {
        ApiPath {
            path: format!("/{segment}"),
            query: Vec::new(),
        }
    }

    /// Appends a constant segment.
    pub fn segment(mut self, segment: &'static str) -> Self {
        self.path.push('/');
        self.path.push_str(segment);
        self
    }

    /// Appends an object id segment.
    pub fn id(mut self, id: Uuid) -> Self {
        self.path.push('/');
        self.path.push_str(&id.hyphenated().to_string());
        self
    }

    /// Appends an opaque id segment (e.g. an appRoleAssignment id), percent-encoded.
    pub fn opaque_id(mut self, id: &str) -> Self {
        self.path.push('/');
        self.path
            .push_str(&utf8_percent_encode(id, PATH_SEGMENT).to_string());
        self
    }

    /// Appends an alternate-key addressing, e.g. `(appId='00000003-…')`, to the last segment.
    pub fn alternate_key(mut self, property: &'static str, value: Uuid) -> Self {
        let literal = Literal::String(value.hyphenated().to_string()).render();
        self.path.push_str(&format!("({property}={literal})"));
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.query.push(("$filter", filter.0));
        self
    }

    pub fn select(mut self, fields: &[&'static str]) -> Self {
        self.query.push(("$select", fields.join(",")));
        self
    }

    pub fn top(mut self, n: u32) -> Self {
        self.query.push(("$top", n.to_string()));
        self
    }

    /// The path without the query (already encoded).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The encoded query string (without `?`), or `None` when empty.
    pub fn encoded_query(&self) -> Option<String> {
        if self.query.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect();
        Some(parts.join("&"))
    }

    /// `/path?query` relative to the version root (the `$batch` form).
    pub fn relative(&self) -> String {
        match self.encoded_query() {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Characters percent-encoded inside a path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded_filter(path: &ApiPath) -> String {
        let url = url::Url::parse(&format!("https://graph.example{}", path.relative())).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs.len(), 1, "exactly one query pair: {pairs:?}");
        assert_eq!(pairs[0].0, "$filter");
        pairs[0].1.clone()
    }

    #[test]
    fn apostrophe_is_doubled() {
        let f = Filter::eq("displayName", "O'Brien-func");
        assert_eq!(f.as_str(), "displayName eq 'O''Brien-func'");
        let p = ApiPath::new("servicePrincipals").filter(f);
        assert_eq!(
            p.relative(),
            "/servicePrincipals?$filter=displayName%20eq%20%27O%27%27Brien-func%27"
        );
        assert_eq!(decoded_filter(&p), "displayName eq 'O''Brien-func'");
    }

    #[test]
    fn crafted_name_stays_one_literal() {
        let crafted = "x' or startswith(displayName,'a";
        let f = Filter::eq("displayName", crafted);
        assert_eq!(
            f.as_str(),
            "displayName eq 'x'' or startswith(displayName,''a'"
        );
        // The literal body contains only doubled quotes: un-doubling it gives the input back.
        let body = &f.as_str()["displayName eq '".len()..f.as_str().len() - 1];
        assert!(!body.replace("''", "").contains('\''));
        assert_eq!(body.replace("''", "'"), crafted);
        assert_eq!(
            decoded_filter(&ApiPath::new("servicePrincipals").filter(f.clone())),
            f.as_str()
        );
    }

    #[test]
    fn special_characters_are_percent_encoded() {
        for name in [
            "a&b=c",
            "hash#tag",
            "plus+minus",
            "Zoë 名前 🚀",
            "semi;colon",
            "100%",
        ] {
            let p = ApiPath::new("servicePrincipals").filter(Filter::eq("displayName", name));
            let rel = p.relative();
            let query = rel.split_once('?').unwrap().1;
            assert_eq!(query.matches('&').count(), 0, "{rel}");
            assert!(
                !query.contains('#') && !query.contains('+') && !query.contains(' '),
                "{rel}"
            );
            assert!(query.is_ascii(), "{rel}");
            assert_eq!(decoded_filter(&p), format!("displayName eq '{name}'"));
        }
    }

    #[test]
    fn guids_are_unquoted_and_any_lambda() {
        let id = Uuid::parse_str("c0a80001-0000-4000-8000-000000000003").unwrap();
        assert_eq!(
            Filter::eq("resourceId", id).as_str(),
            "resourceId eq c0a80001-0000-4000-8000-000000000003"
        );
        let arm = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/O'Brien";
        assert_eq!(
            Filter::any_eq("alternativeNames", arm).as_str(),
            "alternativeNames/any(x:x eq '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/O''Brien')"
        );
        let both = Filter::eq("a", "1").and(Filter::eq("b", id));
        assert_eq!(
            both.as_str(),
            "(a eq '1') and (b eq c0a80001-0000-4000-8000-000000000003)"
        );
    }

    #[test]
    fn paths_and_keys() {
        let id = Uuid::parse_str("00000003-0000-0000-c000-000000000000").unwrap();
        let p = ApiPath::new("servicePrincipals")
            .alternate_key("appId", id)
            .select(&["id", "appId"]);
        assert_eq!(
            p.relative(),
            "/servicePrincipals(appId=%27x%27)"
                .replace("%27x%27", "'00000003-0000-0000-c000-000000000000'")
                + "?$select=id,appId"
        );
        let p = ApiPath::new("servicePrincipals")
            .id(id)
            .segment("appRoleAssignedTo")
            .opaque_id("ab/c?d");
        assert_eq!(
            p.relative(),
            "/servicePrincipals/00000003-0000-0000-c000-000000000000/appRoleAssignedTo/ab%2Fc%3Fd"
        );
        assert_eq!(ApiPath::new("x").top(5).relative(), "/x?$top=5");
    }
}
