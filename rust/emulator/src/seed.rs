//! Deterministic seed data. Tests in every layer refer to these ids, so they are a contract:
//! add entries, never change existing ones. `GET /_emulator/seed` serves the same data as JSON.

/// The emulated tenant.
pub const TENANT_ID: &str = "7d1f3c2a-5b4e-4c6d-8e9f-0a1b2c3d4e5f";
/// Display name of the emulated tenant (in AADSTS messages such as 500011).
pub const TENANT_NAME: &str = "Contoso";
/// A user of the emulated tenant: who signs in through the delegated flows (device code,
/// authorization code).
#[derive(Debug, Clone, Copy)]
pub struct SeedUser {
    pub display_name: &'static str,
    pub user_principal_name: &'static str,
    pub object_id: &'static str,
}

/// The administrator every delegated sign-in signs in as.
pub const ADMIN_USER: SeedUser = SeedUser {
    display_name: "Contoso Admin",
    user_principal_name: "admin@contoso.example",
    object_id: "2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c99",
};

/// Microsoft Graph Command Line Tools, the public client `Connect-MgGraph` uses by default.
pub const GRAPH_CLI_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// Owner tenant of Microsoft first-party service principals.
pub const MICROSOFT_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// A foreign tenant that publishes a look-alike "Microsoft Graph" app.
pub const FOREIGN_TENANT_ID: &str = "0badc0de-0000-4000-8000-00000000f00d";
pub const SUBSCRIPTION_ID: &str = "3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d";

/// Resource URI (token audience) of Microsoft Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// A managed identity (a service principal of type ManagedIdentity).
#[derive(Debug, Clone, Copy)]
pub struct SeedIdentity {
    pub display_name: &'static str,
    /// appId / client id.
    pub client_id: &'static str,
    /// Service principal object id (= principal id).
    pub object_id: &'static str,
    /// ARM resource id (carried in `alternativeNames`).
    pub resource_id: &'static str,
    pub user_assigned: bool,
    /// Attached to the emulated host: the MI endpoints issue tokens for it.
    pub attached: bool,
    /// Graph app roles (by value) it holds at start.
    pub graph_roles: &'static [&'static str],
}

/// System-assigned identity of the emulated Automation account; may read and write app-role
/// assignments (the identity tests use to administer Graph).
pub const SYSTEM_IDENTITY: SeedIdentity = SeedIdentity {
    display_name: "aa-runbooks",
    client_id: "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01",
    object_id: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-automation/providers/Microsoft.Automation/automationAccounts/aa-runbooks",
    user_assigned: false,
    attached: true,
    graph_roles: &["Application.Read.All", "AppRoleAssignment.ReadWrite.All"],
};

/// A user-assigned identity attached to the host, with read roles.
pub const REPORTS_IDENTITY: SeedIdentity = SeedIdentity {
    display_name: "uami-reports",
    client_id: "6b2d1e4f-9c8e-4f3b-8d7a-2e4c6f8b0d02",
    object_id: "8e7d6c5b-4a39-4281-9f60-5e4d3c2b1a02",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-reports",
    user_assigned: true,
    attached: true,
    graph_roles: &["User.Read.All", "AuditLog.Read.All"],
};

/// A user-assigned identity attached to the host, holding no roles (empty-roles warning).
pub const EMPTY_IDENTITY: SeedIdentity = SeedIdentity {
    display_name: "uami-empty",
    client_id: "7c3e2f50-ad9f-4a4c-9e8b-3f5d7a9c1e03",
    object_id: "7d6c5b4a-3928-4172-8e5f-4d3c2b1a0f03",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-empty",
    user_assigned: true,
    attached: true,
    graph_roles: &[],
};

/// A user-assigned identity that exists in the directory but is NOT attached to the host:
/// MI endpoints answer "identity not found"; Graph can grant to it.
pub const DETACHED_IDENTITY: SeedIdentity = SeedIdentity {
    display_name: "uami-elsewhere",
    client_id: "8d4f3061-be0a-4b5d-8f9c-4a6e8b0d2f04",
    object_id: "6c5b4a39-2817-4063-9d4e-3c2b1a0f9e04",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-elsewhere",
    user_assigned: true,
    attached: false,
    graph_roles: &[],
};

/// An identity whose display name contains an apostrophe.
pub const APOSTROPHE_IDENTITY: SeedIdentity = SeedIdentity {
    display_name: "O'Brien-func",
    client_id: "9e504172-cf1b-4c6e-a0ad-5b7f9c1e3a05",
    object_id: "5b4a3928-1706-4f52-8c3d-2b1a0f9e8d05",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-apps/providers/Microsoft.Web/sites/O'Brien-func",
    user_assigned: false,
    attached: false,
    graph_roles: &[],
};

/// Two service principals share the display name `dup-name` (a web app and its managed
/// identity, as in Microsoft's tutorial): looking the name up must be an error.
pub const DUPLICATE_NAME: &str = "dup-name";
pub const DUPLICATE_IDENTITY_A: SeedIdentity = SeedIdentity {
    display_name: DUPLICATE_NAME,
    client_id: "af615283-d02c-4d7f-b1be-6c80ad2f4b06",
    object_id: "4a392817-06f5-4e41-9b2c-1a0f9e8d7c06",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-apps/providers/Microsoft.Web/sites/dup-name",
    user_assigned: false,
    attached: false,
    graph_roles: &[],
};
pub const DUPLICATE_IDENTITY_B: SeedIdentity = SeedIdentity {
    display_name: DUPLICATE_NAME,
    client_id: "b0726394-e13d-4e80-82cf-7d91be3f5c07",
    object_id: "39281706-f5e4-4d30-8a1b-0f9e8d7c6b07",
    resource_id: "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/dup-name",
    user_assigned: true,
    attached: false,
    graph_roles: &[],
};

pub const IDENTITIES: &[SeedIdentity] = &[
    SYSTEM_IDENTITY,
    REPORTS_IDENTITY,
    EMPTY_IDENTITY,
    DETACHED_IDENTITY,
    APOSTROPHE_IDENTITY,
    DUPLICATE_IDENTITY_A,
    DUPLICATE_IDENTITY_B,
];

/// An app role a resource exposes.
#[derive(Debug, Clone, Copy)]
pub struct SeedRole {
    pub id: &'static str,
    pub value: &'static str,
    pub display_name: &'static str,
    /// false = `["User"]` only (cannot be granted to a service principal).
    pub application: bool,
}

const fn role(id: &'static str, value: &'static str, display_name: &'static str) -> SeedRole {
    SeedRole {
        id,
        value,
        display_name,
        application: true,
    }
}

/// A resource API's service principal.
#[derive(Debug, Clone, Copy)]
pub struct SeedResource {
    pub alias: &'static str,
    pub display_name: &'static str,
    pub app_id: &'static str,
    pub object_id: &'static str,
    /// Token audience (`servicePrincipalNames` entry).
    pub resource_uri: &'static str,
    pub owner_tenant: &'static str,
    pub roles: &'static [SeedRole],
}

pub const GRAPH: SeedResource = SeedResource {
    alias: "Graph",
    display_name: "Microsoft Graph",
    app_id: "00000003-0000-0000-c000-000000000000",
    object_id: "c0a80001-0000-4000-8000-000000000003",
    resource_uri: GRAPH_RESOURCE,
    owner_tenant: MICROSOFT_TENANT_ID,
    roles: &[
        role(
            "e1000001-0000-4000-8000-000000000001",
            "Application.Read.All",
            "Read all applications",
        ),
        role(
            "e1000001-0000-4000-8000-000000000002",
            "Application.ReadWrite.All",
            "Read and write all applications",
        ),
        role(
            "e1000001-0000-4000-8000-000000000003",
            "AppRoleAssignment.ReadWrite.All",
            "Manage app permission grants and app role assignments",
        ),
        role(
            "e1000001-0000-4000-8000-000000000004",
            "AuditLog.Read.All",
            "Read all audit log data",
        ),
        role(
            "e1000001-0000-4000-8000-000000000005",
            "Directory.Read.All",
            "Read directory data",
        ),
        role(
            "e1000001-0000-4000-8000-000000000006",
            "Group.Read.All",
            "Read all groups",
        ),
        role(
            "e1000001-0000-4000-8000-000000000007",
            "Mail.Read",
            "Read mail in all mailboxes",
        ),
        role(
            "e1000001-0000-4000-8000-000000000008",
            "Mail.ReadWrite",
            "Read and write mail in all mailboxes",
        ),
        role(
            "e1000001-0000-4000-8000-000000000009",
            "Mail.Send",
            "Send mail as any user",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000a",
            "Sites.Read.All",
            "Read items in all site collections",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000b",
            "Sites.ReadWrite.All",
            "Read and write items in all site collections",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000c",
            "User.Read.All",
            "Read all users' full profiles",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000d",
            "User.ReadWrite.All",
            "Read and write all users' full profiles",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000e",
            "Calendars.Read",
            "Read calendars in all mailboxes",
        ),
        role(
            "e1000001-0000-4000-8000-00000000000f",
            "Files.Read.All",
            "Read files in all site collections",
        ),
        role(
            "e1000001-0000-4000-8000-000000000010",
            "Reports.Read.All",
            "Read all usage reports",
        ),
        role(
            "e1000001-0000-4000-8000-000000000011",
            "Team.ReadBasic.All",
            "Get a list of all teams",
        ),
        role(
            "e1000001-0000-4000-8000-000000000012",
            "Group.ReadWrite.All",
            "Read and write all groups",
        ),
        // Issue 22 (least privilege): with the ids Microsoft's permission data names.
        role(
            "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
            "Directory.ReadWrite.All",
            "Read and write directory data",
        ),
        role(
            "38d9df27-64da-44fd-b7c5-a6fbac20248f",
            "UserAuthenticationMethod.Read.All",
            "Read all users' authentication methods",
        ),
        // Issue 26: access to the SharePoint sites granted to the app (see [`SITES`]).
        role(
            "e1000001-0000-4000-8000-000000000013",
            "Sites.Selected",
            "Access selected site collections",
        ),
        SeedRole {
            id: "e1000001-0000-4000-8000-0000000000ff",
            value: "Tasks.ReadWrite.Shared",
            display_name: "Read and write user and shared tasks (users only)",
            application: false,
        },
    ],
};

/// A SharePoint site as Graph serves it (`GET /v1.0/sites/{site-id}`), and the applications
/// (client ids) its owner granted through Sites.Selected: a token whose only sites permission is
/// Sites.Selected reads the sites granted to its app and is refused (403 `accessDenied`) on the
/// others.
#[derive(Debug, Clone, Copy)]
pub struct SeedSite {
    /// Graph's composite id: `{hostname},{site collection id},{web id}`.
    pub id: &'static str,
    pub name: &'static str,
    pub display_name: &'static str,
    pub web_url: &'static str,
    pub granted_to: &'static [&'static str],
}

/// A site granted to nobody: Sites.Selected alone never reads it.
pub const FINANCE_SITE: SeedSite = SeedSite {
    id: "contoso.sharepoint.com,2f5c1a3e-6b7d-4e8f-9a0b-1c2d3e4f5a61,7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c61",
    name: "finance",
    display_name: "Finance",
    web_url: "https://contoso.sharepoint.com/sites/finance",
    granted_to: &[],
};

/// A site granted (Sites.Selected) to uami-empty's app.
pub const OPERATIONS_SITE: SeedSite = SeedSite {
    id: "contoso.sharepoint.com,3a6d2b4f-7c8e-4f9a-8b1c-2d3e4f5a6b72,8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d72",
    name: "operations",
    display_name: "Operations",
    web_url: "https://contoso.sharepoint.com/sites/operations",
    granted_to: &[EMPTY_IDENTITY.client_id],
};

pub const SITES: &[SeedSite] = &[FINANCE_SITE, OPERATIONS_SITE];

/// Ten Graph application roles used by the bulk bench and bulk tests.
pub const BULK_ROLES: [&str; 10] = [
    "Application.Read.All",
    "AuditLog.Read.All",
    "Directory.Read.All",
    "Group.Read.All",
    "Mail.Read",
    "Mail.Send",
    "Sites.Read.All",
    "User.Read.All",
    "Calendars.Read",
    "Reports.Read.All",
];

pub const LOOKALIKE_GRAPH: SeedResource = SeedResource {
    alias: "",
    display_name: "Microsoft Graph",
    app_id: "d15ea5ed-0000-4000-8000-00000000bad1",
    object_id: "c0a80001-0000-4000-8000-0000000000bd",
    resource_uri: "api://d15ea5ed-0000-4000-8000-00000000bad1",
    owner_tenant: FOREIGN_TENANT_ID,
    roles: &[role(
        "e1000009-0000-4000-8000-000000000009",
        "Mail.Send",
        "Send mail as any user",
    )],
};

pub const EXCHANGE: SeedResource = SeedResource {
    alias: "Exchange",
    display_name: "Office 365 Exchange Online",
    app_id: "00000002-0000-0ff1-ce00-000000000000",
    object_id: "c0a80001-0000-4000-8000-000000000002",
    resource_uri: "https://outlook.office365.com",
    owner_tenant: MICROSOFT_TENANT_ID,
    roles: &[
        role(
            "e1000002-0000-4000-8000-000000000001",
            "Exchange.ManageAsApp",
            "Manage Exchange As Application",
        ),
        role(
            "e1000002-0000-4000-8000-000000000002",
            "full_access_as_app",
            "Use Exchange Web Services with full access to all mailboxes",
        ),
    ],
};

pub const SHAREPOINT: SeedResource = SeedResource {
    alias: "SharePoint",
    display_name: "Office 365 SharePoint Online",
    app_id: "00000003-0000-0ff1-ce00-000000000000",
    object_id: "c0a80001-0000-4000-8000-000000000004",
    resource_uri: "https://microsoft.sharepoint-df.com",
    owner_tenant: MICROSOFT_TENANT_ID,
    roles: &[
        role(
            "e1000003-0000-4000-8000-000000000001",
            "Sites.FullControl.All",
            "Have full control of all site collections",
        ),
        role(
            "e1000003-0000-4000-8000-000000000002",
            "Sites.Read.All",
            "Read items in all site collections",
        ),
    ],
};

pub const KEYVAULT: SeedResource = SeedResource {
    alias: "KeyVault",
    display_name: "Azure Key Vault",
    app_id: "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
    object_id: "c0a80001-0000-4000-8000-000000000005",
    resource_uri: "https://vault.azure.net",
    owner_tenant: MICROSOFT_TENANT_ID,
    roles: &[],
};

pub const ARM: SeedResource = SeedResource {
    alias: "ARM",
    display_name: "Windows Azure Service Management API",
    app_id: "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    object_id: "c0a80001-0000-4000-8000-000000000006",
    resource_uri: "https://management.azure.com",
    owner_tenant: MICROSOFT_TENANT_ID,
    roles: &[],
};

pub const RESOURCES: &[SeedResource] =
    &[GRAPH, LOOKALIKE_GRAPH, EXCHANGE, SHAREPOINT, KEYVAULT, ARM];

/// Display name of the emulated subscription (ARM).
pub const SUBSCRIPTION_NAME: &str = "Contoso Production";

/// An application of the tenant used as an ARM/Graph administrator (client credentials with
/// [`crate::entra::CLIENT_SECRET`]).
#[derive(Debug, Clone, Copy)]
pub struct SeedApp {
    pub display_name: &'static str,
    pub client_id: &'static str,
    pub object_id: &'static str,
    /// Graph app roles (by value) it holds at start.
    pub graph_roles: &'static [&'static str],
}

/// Contributor on the subscription; may grant Graph app roles.
pub const ARM_ADMIN: SeedApp = SeedApp {
    display_name: "contoso-arm-admin",
    client_id: "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e501",
    object_id: "e2f3a4b5-c6d7-4e8f-90a1-b2c3d4e5f601",
    graph_roles: &["Application.Read.All", "AppRoleAssignment.ReadWrite.All"],
};

/// Reader on the subscription.
pub const ARM_READER: SeedApp = SeedApp {
    display_name: "contoso-arm-reader",
    client_id: "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e502",
    object_id: "e2f3a4b5-c6d7-4e8f-90a1-b2c3d4e5f602",
    graph_roles: &[],
};

/// Reader on the subscription, Contributor on rg-automation only: may change the Automation
/// account but not assign identities outside it (LinkedAuthorizationFailed).
pub const ARM_AUTOMATION_CONTRIBUTOR: SeedApp = SeedApp {
    display_name: "contoso-aa-operator",
    client_id: "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e503",
    object_id: "e2f3a4b5-c6d7-4e8f-90a1-b2c3d4e5f603",
    graph_roles: &[],
};

/// The administrator applications, in the order they are seeded.
pub const ARM_APPS: &[SeedApp] = &[ARM_ADMIN, ARM_READER, ARM_AUTOMATION_CONTRIBUTOR];
