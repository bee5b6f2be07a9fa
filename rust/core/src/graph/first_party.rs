//! Microsoft's first-party resource APIs: aliases, display names, service principal names and
//! well-known appIds per cloud (graph-approle spec §4). Anything that looks like one of these
//! must really be one (owned by Microsoft's tenant, with the well-known appId).

/// A Microsoft first-party resource API.
#[derive(Debug, Clone, Copy)]
pub struct FirstParty {
    pub aliases: &'static [&'static str],
    pub names: &'static [&'static str],
    /// The first one is the public-cloud appId.
    pub app_ids: &'static [&'static str],
    /// Token audiences (servicePrincipalNames) users may type instead.
    pub uris: &'static [&'static str],
}

pub const FIRST_PARTY: &[FirstParty] = &[
    FirstParty {
        aliases: &["Graph", "MicrosoftGraph", "MSGraph"],
        names: &["Microsoft Graph"],
        app_ids: &["00000003-0000-0000-c000-000000000000"],
        uris: &[
            "https://graph.microsoft.com",
            "https://graph.microsoft.us",
            "https://dod-graph.microsoft.us",
            "https://microsoftgraph.chinacloudapi.cn",
        ],
    },
    FirstParty {
        aliases: &["Exchange", "ExchangeOnline"],
        names: &["Office 365 Exchange Online"],
        app_ids: &["00000002-0000-0ff1-ce00-000000000000"],
        uris: &[
            "https://outlook.office365.com",
            "https://outlook.office.com",
        ],
    },
    FirstParty {
        aliases: &["SharePoint", "SharePointOnline"],
        names: &["Office 365 SharePoint Online"],
        app_ids: &["00000003-0000-0ff1-ce00-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["KeyVault", "AzureKeyVault"],
        names: &["Azure Key Vault"],
        app_ids: &[
            "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            "7e7c393b-45d0-48b1-a35e-2905ddf8183c",
        ],
        uris: &[
            "https://vault.azure.net",
            "https://vault.usgovcloudapi.net",
            "https://vault.azure.cn",
        ],
    },
    FirstParty {
        aliases: &["ARM", "AzureServiceManagement", "AzureResourceManager"],
        names: &["Windows Azure Service Management API"],
        app_ids: &["797f4846-ba00-4fd7-ba43-dac1f8f63013"],
        uris: &[
            "https://management.azure.com",
            "https://management.core.windows.net",
        ],
    },
    FirstParty {
        aliases: &[],
        names: &["Windows Azure Active Directory"],
        app_ids: &["00000002-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &[],
        names: &["Skype for Business Online"],
        app_ids: &["00000004-0000-0ff1-ce00-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["PowerBI"],
        names: &["Power BI Service"],
        app_ids: &["00000009-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["Dataverse"],
        names: &["Dataverse", "Common Data Service"],
        app_ids: &["00000007-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &[],
        names: &["Office 365 Management APIs"],
        app_ids: &["00b41c95-dab0-4487-9791-b9d2c32c80f2"],
        uris: &[],
    },
];

impl FirstParty {
    pub fn by_alias_or_name(input: &str) -> Option<&'static FirstParty> {
        FIRST_PARTY.iter().find(|f| {
            f.aliases
                .iter()
                .chain(f.names.iter())
                .chain(f.uris.iter())
                .any(|a| a.eq_ignore_ascii_case(input))
        })
    }
    pub fn by_app_id(app_id: &str) -> Option<&'static FirstParty> {
        FIRST_PARTY
            .iter()
            .find(|f| f.app_ids.iter().any(|a| a.eq_ignore_ascii_case(app_id)))
    }
    pub fn by_name(name: &str) -> Option<&'static FirstParty> {
        let name = name.trim();
        FIRST_PARTY
            .iter()
            .find(|f| f.names.iter().any(|a| a.eq_ignore_ascii_case(name)))
    }
    /// The appId for the cloud of `graph_host` (Key Vault differs in Azure Government).
    pub fn app_id_for(&self, graph_host: &str) -> &'static str {
        let gov =
            graph_host.ends_with(".microsoft.us") || graph_host.ends_with(".usgovcloudapi.net");
        match (gov, self.app_ids) {
            (true, [_, gov_id, ..]) => gov_id,
            (_, [first, ..]) => first,
            _ => "",
        }
    }
}
