# Help source of every ManagedIdentity command: build.ps1 turns it into the MAML file
# en-US/ManagedIdentity.Interop.dll-Help.xml (syntax, types, pipeline input and aliases come
# from the compiled cmdlets; the build fails when a parameter is missing here or unknown there).
@{
    'Connect-Identity' = @{
        Synopsis    = @'
Connects with a managed identity, a service principal, a delegated (admin) sign-in, the Azure CLI or an access token, and makes it this runspace's current context.
'@
        Description = @'
-Identity finds the managed-identity endpoint of the host (Azure Automation sandbox,
App Service / Functions, or IMDS on a VM or hybrid worker), acquires a token for the
default resource and returns the context with the roles the token carries.
A user-assigned identity is chosen with exactly one of -ClientId (its client/application
id), -ObjectId (its object/principal id) or -ResourceId (its ARM resource id). Passing the
object id to -ClientId still works, with a warning naming the right parameter.
Where workload identity federation is configured (AKS: AZURE_FEDERATED_TOKEN_FILE,
AZURE_TENANT_ID, AZURE_CLIENT_ID), -Identity signs in with the federated token through
Entra, as Azure.Identity's ManagedIdentityCredential does; -ClientId picks another
application than AZURE_CLIENT_ID.
-AccessToken connects with a token you already have (no refresh is possible).
The context is stored per runspace (Automation jobs that share a process never see each
other's identity) and works only in the runspace that created it; script cannot construct
one. Tokens are cached per process and shared by contexts of one identity.
'@
        Parameters  = @{
            Identity = @'
Use the host's managed identity.
'@
            ClientId = 'Client (application) id of a user-assigned identity.'
            ObjectId = 'Object (principal) id of a user-assigned identity.'
            ResourceId = 'ARM resource id of a user-assigned identity (/subscriptions/.../userAssignedIdentities/name).'
            AccessToken = 'An access token as a SecureString (for example from another tool).'
            Resource = 'Default resource for Get-IdentityToken (default: Microsoft Graph).'
            GraphEndpoint = @'
Microsoft Graph base URL for a national cloud or a local emulator. HTTPS only; plain http
is accepted for loopback addresses.
'@
            TimeoutSec = 'Upper bound for acquiring one token, retries included (default 100). For -Scopes (browser) sign-ins: how long to wait for the browser (default 300).'
            # Issue 10: sign-ins.
            Scopes = @'
Delegated permissions to sign in with (as Connect-MgGraph -Scopes), e.g. AppRoleAssignment.ReadWrite.All,
Application.Read.All. Bare names are Microsoft Graph permissions; full scope URIs name other APIs.
Without -UseDeviceCode the system browser opens (where there is none, the URL is printed).
'@
            UseDeviceCode = @'
Sign in on another device: the code and URL are written as a warning; the command waits (at most
until the code expires; Ctrl+C stops it) for you to finish signing in.
'@
            TenantId = @'
Tenant id or domain name. Required for service principals; delegated sign-ins default to
'organizations' (work and school accounts).
'@
            ClientSecret = 'The service principal''s client secret (with -TenantId and -ClientId).'
            Credential = @'
A PSCredential whose user name is the application (client) id and whose password is its client
secret (as Connect-AzAccount -ServicePrincipal -Credential).
'@
            CertificatePath = 'A PFX (PKCS#12) or PEM file holding the certificate and its private key.'
            CertificatePassword = 'Password of the PFX file given to -CertificatePath.'
            Certificate = 'An X509Certificate2 with an RSA private key (its key is exported to the engine in memory).'
            CertificateThumbprint = @'
Thumbprint of a certificate with a private key in the CurrentUser (then LocalMachine) personal
store, where the OS has one.
'@
            EnvironmentVariable = @'
Sign in as Azure.Identity's EnvironmentCredential / WorkloadIdentityCredential do, from
AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH
(+ _PASSWORD) or AZURE_FEDERATED_TOKEN_FILE (workload identity), with AZURE_AUTHORITY_HOST.
'@
            FederatedTokenFile = @'
Workload identity federation (with -TenantId and -ClientId): a file holding the OIDC token your
pipeline's issuer wrote (GitHub Actions, Azure DevOps, a Kubernetes projected service account
token). Entra must have a federated credential on the application for the token's issuer and
subject. The file is read again whenever it changes, so an issuer that rotates it keeps the
context working; its contents never reach any output.
'@
            UseAzureCli = @'
Use the Azure CLI's signed-in account: tokens come from 'az account get-access-token' ('az'
must be on PATH and logged in).
'@
            Environment = @'
The cloud: Global (default), USGov, USGovDoD or China. It picks the authority and the
Microsoft Graph and Resource Manager endpoints (see the README's table).
'@
            AuthorityHost = @'
The Entra authority host (default: the cloud's, e.g. https://login.microsoftonline.com).
HTTPS only; plain http is accepted for loopback addresses (an emulator).
'@
            ResourceManagerEndpoint = @'
Azure Resource Manager endpoint of the ARM cmdlets (default https://management.azure.com; a
private cloud or the emulator). HTTPS, or plain http to a loopback address only. Tokens for it
are issued for the endpoint's cloud (https://management.azure.com/ for any other host).
'@
            SubscriptionId = @'
Default subscription of the ARM cmdlets. Without it a caller that sees exactly one subscription
uses it; when several are visible the error lists them.
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook, system-assigned identity'
                Code  = @'
Import-Module ManagedIdentity
$context = Connect-Identity -Identity
$context.Roles
'@
            }
            @{
                Title = 'User-assigned identity by client id'
                Code  = 'Connect-Identity -Identity -ClientId 6b2d1e4f-9c8e-4f3b-8d7a-2e4c6f8b0d02'
            }
            @{
                Title = 'Reuse a token you already hold (no refresh is possible)'
                Code  = 'Connect-Identity -AccessToken (Get-IdentityToken)'
            }
            @{
                Title = 'An admin signs in with delegated permissions (browser; -UseDeviceCode for another device)'
                Code  = 'Connect-Identity -Scopes AppRoleAssignment.ReadWrite.All, Application.Read.All -TenantId contoso.onmicrosoft.com'
            }
            @{
                Title = 'A pipeline signs in as a service principal with a certificate'
                Code  = 'Connect-Identity -TenantId $tenantId -ClientId $appId -CertificatePath ./sp.pfx -CertificatePassword $pfxPassword'
            }
            @{
                Title = 'A GitHub Actions job signs in with workload identity federation (no secret to store)'
                Code  = @'
# The job requests an OIDC token for the audience api://AzureADTokenExchange and writes it to a file.
Connect-Identity -TenantId $tenantId -ClientId $appId -FederatedTokenFile $env:RUNNER_TEMP/oidc-token
'@
            }
            @{
                Title = 'A pipeline signs in from the Azure.Identity environment variables (secret, certificate or workload identity)'
                Code  = 'Connect-Identity -EnvironmentVariable'
            }
        )
        Outputs     = 'ManagedIdentity.Context'
    }
    'Disconnect-Identity' = @{
        Synopsis    = 'Forgets the current (or given) context of this runspace.'
        Description = @'
Frees the context in the engine and, when it is this runspace's current context, forgets it.
Only this runspace's contexts are affected; other runbook jobs in the same process keep
theirs. Contexts a runspace leaves connected are freed when the runspace closes.
'@
        Parameters  = @{
            Context = @'
The context to disconnect (default: this runspace's current context).
'@
        }
        Examples    = @(
            @{
                Title = 'Free the connection at the end of a runbook'
                Code  = @'
Connect-Identity -Identity | Out-Null
# ... work ...
Disconnect-Identity
'@
            }
        )
        Outputs     = ''
    }
    'Get-GraphAppRole' = @{
        Synopsis    = 'Lists the application permissions (app roles) an API offers to applications and managed identities.'
        Description = @'
Returns the roles of the resource's service principal that can be granted to a service
principal (roles that only users can hold are left out), sorted by value. -Resource
accepts an alias (Graph, Exchange, SharePoint, KeyVault, ARM), an appId, an object id, a
token audience or an exact display name; a look-alike of a Microsoft API that Microsoft
does not own is refused. Needs Application.Read.All.
'@
        Parameters  = @{
            Name = @'
Role value to match; wildcards * and ? are allowed (e.g. 'Mail.*'). Tab completion lists
the values when connected.
'@
            Resource = 'The API (default: Graph).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook: which mail permissions exist, and what do they allow?'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
Get-GraphAppRole -Name 'Mail.*' | Format-Table Value, DisplayName
'@
            }
            @{
                Title = 'The application permissions Exchange Online offers'
                Code  = 'Get-GraphAppRole -Resource Exchange'
            }
        )
        Outputs     = 'ManagedIdentity.AppRole'
    }
    'Get-GraphAppRoleAssignment' = @{
        Synopsis    = 'Lists the application permissions (app-role assignments) managed identities hold, with identity, API and permission names resolved.'
        Description = @'
Identities are resolved exactly as by Grant-GraphAppRole (object id, app id, ARM resource
id or an unambiguous exact display name). Without -Resource every API's assignments are
listed; with it, only that API's. One object per assignment; an identity that cannot be
resolved yields a non-terminating error (the others continue).
Pipeline input is collected and read in one bulk run at the end. The output pipes into
Revoke-GraphAppRole. Needs Application.Read.All.
'@
        Parameters  = @{
            Identity = @'
Managed identities (or other service principals). Accepts pipeline input by value only (never by property name, so an app role's Id is never
taken for an identity). Accepted: strings (object id, app id, ARM resource id or an
unambiguous exact display name) and GUIDs; output of Get-GraphAppRoleAssignment and the
Grant/Revoke/Set-GraphAppRole results (their IdentityId); a ManagedIdentity.Context (its
ObjectId); Az identity objects and any object with a PrincipalId, IdentityId or ObjectId
property; Microsoft Graph service principals (an id together with appId or
servicePrincipalType, e.g. from Invoke-GraphApiRequest or Get-MgServicePrincipal). Any other
object (for example an app role from Get-GraphAppRole) stops the command with
ManagedIdentity.InvalidIdentityInput before anything is changed.
'@
            Resource = 'Only assignments on this API (alias such as Graph, appId, object id or exact name).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook: audit what the reporting identities may do'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
Get-GraphAppRoleAssignment -Identity 'uami-reports', 'uami-empty' |
    Format-Table IdentityName, Resource, Permission, CreatedDateTime
'@
            }
            @{
                Title = 'Only Microsoft Graph permissions, as a plain list'
                Code  = '(Get-GraphAppRoleAssignment -Identity uami-reports -Resource Graph).Permission'
            }
        )
        Outputs     = 'ManagedIdentity.AppRoleAssignment'
    }
    'Get-IdentityContext' = @{
        Synopsis    = 'Shows the current (or given) context: who you are, from which source, and the roles your token carries.'
        Description = @'
Returns auth type, detected source, client id, object id, tenant id, ARM resource id, the
Roles claim of the token and its expiry, where the Azure Resource Manager commands go
(ResourceManagerEndpoint, SubscriptionId) and the engine's version (EngineVersion). Warns
when a Graph token carries no roles: new app role grants only appear in a newly issued
token, and managed-identity endpoints may serve a cached token for up to 24 hours. Returns
nothing when not connected.
'@
        Parameters  = @{
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'In a runbook: prove the grants reached the token'
                Code  = @'
Connect-Identity -Identity | Out-Null
(Get-IdentityContext).Roles -contains 'Mail.Send'
'@
            }
        )
        Outputs     = 'ManagedIdentity.Context'
    }
    'Get-IdentityToken' = @{
        Synopsis    = 'Gets an access token of the current (or given) context, as a SecureString by default.'
        Description = @'
Served from the process-wide token cache while fresh (refreshed 5 minutes before expiry,
or at half-life for long-lived tokens); otherwise acquired from the context's source.
'@
        Parameters  = @{
            Resource = @'
The resource (audience), e.g. https://vault.azure.net or https://management.azure.com.
A trailing /.default is accepted. Default: the context's resource (Microsoft Graph).
'@
            ForceRefresh = 'Ignore the cache and ask the source for a new token.'
            AsPlainText = 'Return a plain string instead of a SecureString (it will be visible in memory and logs).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Call Key Vault from a runbook'
                Code  = @'
Connect-Identity -Identity | Out-Null
$token = Get-IdentityToken -Resource https://vault.azure.net -AsPlainText
Invoke-RestMethod -Uri "https://myvault.vault.azure.net/secrets/x?api-version=7.4" -Headers @{ Authorization = "Bearer $token" }
'@
            }
        )
        Outputs     = 'System.Security.SecureString, or System.String with -AsPlainText'
    }
    'Grant-GraphAppRole' = @{
        Synopsis    = 'Grants application permissions (app roles) of Microsoft Graph or another API to managed identities: idempotently, in bulk, safe under -WhatIf.'
        Description = @'
Each identity may be given as an object id, an app (client) id, an ARM resource id
(/subscriptions/.../userAssignedIdentities/name, or the resource that owns a
system-assigned identity) or an exact display name. A display name that matches more
than one service principal is an error listing every candidate; nothing is ever picked
"first". Names are never spliced into OData filters.

Permissions are role values (Mail.Send, User.Read.All...) of the resource, matched
case-insensitively. An unknown name stops the command before any change, with
suggestions; so does a role that only users can hold. -Resource accepts an alias (Graph,
Exchange, SharePoint, KeyVault, ARM), an appId, an object id, a token audience or an exact
display name; a look-alike of a Microsoft API not owned by Microsoft is refused.

An identity piped from New-UserAssignedIdentity (Status Created) or from a
Set-AutomationAccountIdentity that just turned the system-assigned identity on is new: Microsoft
Graph may not know it for a while (directory replication). For such identities only, the command
waits, with progress, up to 120 seconds for the principal to appear, then says how long it waited;
any other unknown identity is an error at once.

Identities from the pipeline are collected and granted in one bulk run at the end
(JSON batching, retries with Retry-After, bounded concurrency). Existing grants are
reported as AlreadyGranted and cause no write. One result per identity and permission:
Status Granted, AlreadyGranted, WouldGrant (-WhatIf) or Failed (also written as a
non-terminating error; the others continue).

The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
A granted role reaches the identity's tokens only when a new token is issued.
'@
        Parameters  = @{
            Identity = @'
Managed identities (or other service principals) to grant to. Accepts pipeline input by value only (never by property name, so an app role's Id is never
taken for an identity). Accepted: strings (object id, app id, ARM resource id or an
unambiguous exact display name) and GUIDs; output of Get-GraphAppRoleAssignment and the
Grant/Revoke/Set-GraphAppRole results (their IdentityId); a ManagedIdentity.Context (its
ObjectId); Az identity objects and any object with a PrincipalId, IdentityId or ObjectId
property; Microsoft Graph service principals (an id together with appId or
servicePrincipalType, e.g. from Invoke-GraphApiRequest or Get-MgServicePrincipal). Any other
object (for example an app role from Get-GraphAppRole) stops the command with
ManagedIdentity.InvalidIdentityInput before anything is changed.
'@
            Permission = @'
Role values to grant, e.g. Mail.Send, User.Read.All. Tab completion lists the resource's
grantable roles when connected.
'@
            Resource = 'The API that defines the roles (default: Graph).'
            Concurrency = 'Batches in flight at once (1 to 16; default chosen by the engine).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook (its system-assigned identity holds AppRoleAssignment.ReadWrite.All)'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
Grant-GraphAppRole -Identity 'uami-reports' -Permission Mail.Send, AuditLog.Read.All, Application.Read.All |
    Where-Object Status -EQ 'Failed'
'@
            }
            @{
                Title = 'Preview: reads only, writes nothing'
                Code  = 'Grant-GraphAppRole -Identity 8e7d6c5b-4a39-4281-9f60-5e4d3c2b1a02 -Permission User.Read.All -WhatIf'
            }
            @{
                Title = 'Many identities at once from a file of object ids (one bulk run)'
                Code  = 'Get-Content ./identities.txt | Grant-GraphAppRole -Permission Sites.Read.All -Confirm:$false'
            }
            @{
                Title = 'Exchange Online application permission'
                Code  = 'Grant-GraphAppRole -Identity uami-mailbox -Resource Exchange -Permission Exchange.ManageAsApp'
            }
        )
        Outputs     = 'ManagedIdentity.AppRoleGrantResult'
    }
    'Invoke-GraphApiRequest' = @{
        Synopsis    = @'
Sends any request to Microsoft Graph with the context's token: retries, typed errors and, with -All, every page of a collection.
'@
        Description = @'
The escape hatch for everything the other commands do not cover. (Not named
Invoke-GraphRequest: Microsoft.Graph.Authentication exports that name as an alias, and an
alias would win over this command wherever the Graph SDK is loaded.) -Uri is a path
(/v1.0/..., /beta/...; a path without a version gets /v1.0) or an absolute URL on the
context's Graph endpoint (the token is never sent anywhere else).
Throttling (429 with Retry-After) and transient failures (5xx, broken connections) are
retried; other failures are terminating errors with a stable id (ManagedIdentity.NotFound,
ManagedIdentity.PermissionDenied, ...) carrying Graph's code and request-id.
Output: the response body as objects; with -All each element of the collection's value
array, following @odata.nextLink across every page (GET only). Properties keep Graph's
own names. Requests other than GET honour -WhatIf and -Confirm.
'@
        Parameters  = @{
            Uri = 'Path or absolute URL on the Graph endpoint.'
            Method = 'GET (default), POST, PUT, PATCH or DELETE.'
            Body = 'Request body: a string is sent as is; a hashtable or object is sent as JSON.'
            All = 'Follow @odata.nextLink and output each element of every page.'
            Headers = @'
Extra request headers (e.g. @{ ConsistencyLevel = 'eventual' }). Authorization is
always the context's token and cannot be overridden.
'@
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook: every managed identity in the tenant'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
Invoke-GraphApiRequest -Uri "/v1.0/servicePrincipals?`$filter=servicePrincipalType eq 'ManagedIdentity'" -All |
    Select-Object displayName, id
'@
            }
            @{
                Title = 'Send a mail as a user (needs Mail.Send)'
                Code  = @'
$mail = @{ message = @{ subject = 'Report'; body = @{ content = 'Done.' }; toRecipients = @(@{ emailAddress = @{ address = 'ops@contoso.com' } }) } }
Invoke-GraphApiRequest -Method POST -Uri '/v1.0/users/reports@contoso.com/sendMail' -Body $mail
'@
            }
        )
        Outputs     = 'System.Management.Automation.PSObject'
    }
    'Revoke-GraphAppRole' = @{
        Synopsis    = 'Revokes application permissions (app roles) from managed identities: idempotently, in bulk, safe under -WhatIf.'
        Description = @'
Identities, permissions and the resource are resolved exactly as by Grant-GraphAppRole
(object id, app id, ARM resource id or an unambiguous exact display name; an unknown
permission stops the command before any change, with suggestions).
A permission the identity does not hold is reported as NotAssigned and causes no write.
One result per identity and permission: Status Revoked, NotAssigned, WouldRevoke
(-WhatIf) or Failed (also written as a non-terminating error; the others continue).
Pipe Get-GraphAppRoleAssignment into it to revoke what an audit found.

The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
'@
        Parameters  = @{
            Identity = @'
Managed identities (or other service principals) to revoke from. Accepts pipeline input by value only (never by property name, so an app role's Id is never
taken for an identity). Accepted: strings (object id, app id, ARM resource id or an
unambiguous exact display name) and GUIDs; output of Get-GraphAppRoleAssignment and the
Grant/Revoke/Set-GraphAppRole results (their IdentityId); a ManagedIdentity.Context (its
ObjectId); Az identity objects and any object with a PrincipalId, IdentityId or ObjectId
property; Microsoft Graph service principals (an id together with appId or
servicePrincipalType, e.g. from Invoke-GraphApiRequest or Get-MgServicePrincipal). Any other
object (for example an app role from Get-GraphAppRole) stops the command with
ManagedIdentity.InvalidIdentityInput before anything is changed.
'@
            Permission = 'Role values to revoke, e.g. Mail.Send.'
            Resource = 'The API that defines the roles (default: Graph).'
            Concurrency = 'Batches in flight at once (1 to 16; default chosen by the engine).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook: take Mail.Send away again (no prompt in a runbook)'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
Revoke-GraphAppRole -Identity 'uami-reports' -Permission Mail.Send -Confirm:$false
'@
            }
            @{
                Title = 'Revoke every Mail.* permission an identity holds, after a preview'
                Code  = @'
Get-GraphAppRoleAssignment -Identity uami-reports | Where-Object Permission -Like 'Mail.*' | Revoke-GraphAppRole -WhatIf
'@
            }
        )
        Outputs     = 'ManagedIdentity.AppRoleGrantResult'
    }
    'Set-GraphAppRole' = @{
        Synopsis    = @'
Makes an identity's app roles on one API exactly the given set: grants what is missing, revokes what is extra, and shows the plan under -WhatIf.
'@
        Description = @'
Declarative counterpart of Grant-GraphAppRole / Revoke-GraphAppRole, for runbooks that
keep permissions as configuration. Roles of other APIs are never touched. An empty
-Permission list (@()) removes every role the identity holds on the resource.
One result per identity and role involved: AlreadyGranted (kept), Granted or WouldGrant
(missing), Revoked or WouldRevoke (extra), Failed (also written as a non-terminating
error). Pipeline input is collected; the permissions given for the same identity are
combined into its wanted set, and everything runs as one bulk operation at the end.

The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
'@
        Parameters  = @{
            Identity = @'
Managed identities (or other service principals). Accepts pipeline input by value only (never by property name, so an app role's Id is never
taken for an identity). Accepted: strings (object id, app id, ARM resource id or an
unambiguous exact display name) and GUIDs; output of Get-GraphAppRoleAssignment and the
Grant/Revoke/Set-GraphAppRole results (their IdentityId); a ManagedIdentity.Context (its
ObjectId); Az identity objects and any object with a PrincipalId, IdentityId or ObjectId
property; Microsoft Graph service principals (an id together with appId or
servicePrincipalType, e.g. from Invoke-GraphApiRequest or Get-MgServicePrincipal). Any other
object (for example an app role from Get-GraphAppRole) stops the command with
ManagedIdentity.InvalidIdentityInput before anything is changed.
'@
            Permission = 'The complete wanted set of role values on the resource.'
            Resource = 'The API that defines the roles (default: Graph).'
            Concurrency = 'Batches in flight at once (1 to 16; default chosen by the engine).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Azure Automation runbook enforcing the permissions of the reporting identity'
                Code  = @'
Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
$wanted = 'Mail.Send', 'AuditLog.Read.All', 'Application.Read.All'
Set-GraphAppRole -Identity 'uami-reports' -Permission $wanted -Confirm:$false |
    Where-Object Status -NE 'AlreadyGranted' | Format-Table Identity, Permission, Status
'@
            }
            @{
                Title = 'Show the plan only'
                Code  = 'Set-GraphAppRole -Identity uami-reports -Permission User.Read.All -WhatIf'
            }
        )
        Outputs     = 'ManagedIdentity.AppRoleGrantResult'
    }
    'Test-IdentityEndpoint' = @{
        Synopsis    = 'Tells which managed-identity source is available here, and why the others are not.'
        Description = @'
Checks every source in the order Azure.Identity (.NET) uses (workload identity, Service
Fabric, App Service / Azure Automation, Azure ML, Cloud Shell, Azure Arc, IMDS) from the
environment, probes IMDS with a short timeout, and returns one row per source. Each row
also carries the engine's version (EngineVersion), for support requests.
'@
        Parameters  = @{
            TimeoutSec = 'How long the IMDS probe may take (default 1).'
        }
        Examples    = @(
            @{
                Title = 'First thing to run when Connect-Identity -Identity fails in a runbook'
                Code  = 'Test-IdentityEndpoint | Format-Table'
            }
        )
        Outputs     = 'ManagedIdentity.EndpointStatus'
    }
    'New-UserAssignedIdentity' = @{
        Synopsis    = 'Creates a user-assigned managed identity (idempotent), without the Az module.'
        Description = @'
Creates Microsoft.ManagedIdentity/userAssignedIdentities/<Name> in a resource group. Running it
again returns the existing identity with Status Existing; a new one has Status Created. The same
name in another location is an error (an identity cannot move). Locations are accepted as display
names too ("UK South"). Its output pipes into Grant-GraphAppRole (by PrincipalId) and into
Set-AutomationAccountIdentity (by ResourceId). A grant right after creation waits for the new
principal to reach Microsoft Graph. Needs Contributor (or Managed Identity Contributor) on the group.
'@
        Parameters  = @{
            Name              = 'Identity name: 3 to 128 letters, digits, hyphens or underscores, starting with a letter or digit.'
            ResourceGroupName = 'The resource group (must exist).'
            Location          = 'Azure region, programmatic (uksouth) or display name (UK South).'
            Tag               = 'Tags as a hashtable of text values.'
            SubscriptionId    = 'Subscription (default: the context''s, else the only visible one).'
            Context           = 'A context from Connect-Identity in this runspace (default: the current one).'
        }
        Examples    = @(
            @{
                Title = 'The seed: create the identity and grant it Graph permissions'
                Code  = @'
New-UserAssignedIdentity -Name MI-AA-MgPowerShell1 -ResourceGroupName rg-automation -Location 'UK South' |
    Grant-GraphAppRole -Permission Mail.Send, AuditLog.Read.All, Application.Read.All
'@
            }
        )
        Outputs     = 'ManagedIdentity.UserAssignedIdentity'
    }
    'Get-UserAssignedIdentity' = @{
        Synopsis    = 'Lists user-assigned managed identities of a resource group or a whole subscription.'
        Description = @'
Without -ResourceGroupName the whole subscription is listed. -Name takes wildcards; a name
without wildcards that matches nothing is a NotFound error.
'@
        Parameters  = @{
            Name              = 'Identity name; * and ? are wildcards.'
            ResourceGroupName = 'Only this resource group.'
            SubscriptionId    = 'Subscription (default: the context''s, else the only visible one).'
            Context           = 'A context from Connect-Identity in this runspace (default: the current one).'
        }
        Examples    = @(
            @{
                Title = 'Every identity whose name starts with MI-'
                Code  = 'Get-UserAssignedIdentity -Name MI-* | Format-Table Name, ResourceGroupName, ClientId'
            }
        )
        Outputs     = 'ManagedIdentity.UserAssignedIdentity'
    }
    'Remove-UserAssignedIdentity' = @{
        Synopsis    = 'Deletes a user-assigned managed identity, with its service principal and app-role assignments.'
        Description = @'
Deleting the identity deletes its service principal in Entra ID and every permission granted to
it; runbooks using it stop getting tokens. ConfirmImpact is High. A missing identity is reported
with Status NotFound, not as an error.
'@
        Parameters  = @{
            Name              = 'Identity name.'
            ResourceGroupName = 'Its resource group.'
            SubscriptionId    = 'Subscription (default: the context''s, else the only visible one).'
            Context           = 'A context from Connect-Identity in this runspace (default: the current one).'
        }
        Examples    = @(
            @{
                Title = 'Remove without a prompt'
                Code  = 'Remove-UserAssignedIdentity -Name MI-old -ResourceGroupName rg-automation -Confirm:$false'
            }
        )
        Outputs     = 'ManagedIdentity.UserAssignedIdentity'
    }
    'Get-AutomationAccountIdentity' = @{
        Synopsis    = 'Shows the identities of an Azure Automation account.'
        Description = @'
Returns the identity type, the system-assigned principal id (when on) and, for each attached
user-assigned identity, its name, resource id, client id and principal id (UserAssigned).
'@
        Parameters  = @{
            AutomationAccountName = 'The Automation account.'
            ResourceGroupName     = 'Its resource group.'
            SubscriptionId        = 'Subscription (default: the context''s, else the only visible one).'
            Context               = 'A context from Connect-Identity in this runspace (default: the current one).'
        }
        Examples    = @(
            @{
                Title = 'Client ids a runbook can pass to Connect-Identity -Identity -ClientId'
                Code  = '(Get-AutomationAccountIdentity aa-runbooks -ResourceGroupName rg-automation).UserAssigned | Format-Table Name, ClientId'
            }
        )
        Outputs     = 'ManagedIdentity.AutomationAccountIdentity'
    }
    'Set-AutomationAccountIdentity' = @{
        Synopsis    = 'Turns an Automation account''s system-assigned identity on or off and attaches or detaches user-assigned identities.'
        Description = @'
Reads the current identities, computes the new identity type and sends one PATCH naming only
what changes (null for a detachment), so an identity that is not named is never dropped.
Names resolve within the subscription; an ambiguous name is an error (pass the resource id).
-WhatIf prints the plan. Turning the system-assigned identity off deletes its principal and every
permission granted to it, so it asks for confirmation (skip with -Force); turning it on again
creates a new principal with no permissions. Attaching needs
Microsoft.ManagedIdentity/userAssignedIdentities/assign/action (Managed Identity Operator) on the
identity. Output is the new state.
'@
        Parameters  = @{
            AutomationAccountName = 'The Automation account.'
            ResourceGroupName     = 'Its resource group.'
            SystemAssigned        = '$true turns the system-assigned identity on, $false off (deletes its principal and permissions).'
            AddUserAssigned       = 'User-assigned identities to attach: names, resource ids or objects with ResourceId (pipeline by value or by property name).'
            RemoveUserAssigned    = 'User-assigned identities to detach: names, resource ids or objects with ResourceId.'
            Force                 = 'Turn the system-assigned identity off without the extra confirmation.'
            SubscriptionId        = 'Subscription (default: the context''s, else the only visible one).'
            Context               = 'A context from Connect-Identity in this runspace (default: the current one).'
        }
        Examples    = @(
            @{
                Title = 'Attach a new identity (the portal''s Identity blade, without Az)'
                Code  = @'
New-UserAssignedIdentity -Name MI-AA-MgPowerShell1 -ResourceGroupName rg-automation -Location uksouth |
    Set-AutomationAccountIdentity -AutomationAccountName aa-runbooks -ResourceGroupName rg-automation
'@
            }
            @{
                Title = 'Show the plan of turning the system identity on'
                Code  = 'Set-AutomationAccountIdentity aa-runbooks -ResourceGroupName rg-automation -SystemAssigned $true -WhatIf'
            }
        )
        Outputs     = 'ManagedIdentity.AutomationAccountIdentity'
    }
    'Get-GraphAppRoleReport' = @{
        Synopsis    = 'Reports every application permission held by every managed identity (or application) in the tenant, with risk levels and drift.'
        Description = @'
Lists the service principals of -PrincipalType (default: managed identities), reads the app
role assignments of each through Microsoft Graph $batch requests (the bulk engine's
concurrency, throttling and retry rules), resolves each resource API's app roles once and
streams one row per permission held: identity display name, object id, appId, principal
type, ARM resource id (managed identities), resource name and ids, permission name and id,
risk level, assignment id and date.

Risk levels (Critical, High, Medium, Low) come from the table embedded in the module, which
cites its sources; -RiskTable applies your own file of the same shape over it. A permission
the table does not list gets the table's default level (Medium).

With -Baseline, every row carries Drift: Unchanged (declared) or Added (not declared), and
every declared grant that was not found follows as a Removed row. -Summary outputs one
object per risk level instead of the rows. -HtmlPath writes a self-contained HTML report
(summary, a table per risk level and a bar chart of permissions per identity; no script and
no network resources, every name HTML-escaped).

The calling identity needs Application.Read.All.
'@
        Parameters  = @{
            PrincipalType = 'Which service principals to cover: ManagedIdentity (default), Application or All.'
            RiskTable = @'
A JSON file applied over the embedded risk table: {"default": "Medium", "levels": {"Critical":
["Mail.Send"], "Low": [...]}}; "replace": true drops the embedded table first.
'@
            Baseline = @'
A JSON file declaring the desired state: an array of records {Identity, Resource, Permissions},
the shape Set-GraphAppRole takes from the pipeline (Identity: display name, object id, appId or
ARM resource id; Resource: default Microsoft Graph), or a report exported with
Export-GraphAppRoleReport -Format Json.
'@
            HtmlPath = 'Writes the HTML report to this file (overwritten).'
            Summary = 'Outputs the summary by risk level (RiskLevel, Permissions, Identities) instead of the rows.'
            Concurrency = 'Batches in flight at once (1 to 16; default chosen by the engine).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'Critical and high permissions of every managed identity, grouped by identity'
                Code  = @'
Get-GraphAppRoleReport | Where-Object RiskLevel -In 'Critical', 'High' | Sort-Object IdentityName |
    Format-Table -View ByIdentity
'@
            }
            @{
                Title = 'Quarterly review: drift from last quarter, saved for git, plus an HTML report'
                Code  = @'
Get-GraphAppRoleReport -Baseline .\approles-2026Q3.json -HtmlPath .\approles.html |
    Export-GraphAppRoleReport -Path .\approles-2026Q4.json
'@
            }
            @{
                Title = 'Summary by risk level of every service principal'
                Code  = 'Get-GraphAppRoleReport -PrincipalType All -Summary'
            }
        )
        Outputs     = 'ManagedIdentity.AppRoleReportRow, ManagedIdentity.AppRoleRiskSummary'
    }
    'Export-GraphAppRoleReport' = @{
        Synopsis    = 'Writes Get-GraphAppRoleReport rows to a CSV or JSON file with a stable column order.'
        Description = @'
Writes the rows in the order they arrive, with the columns IdentityName, IdentityId,
IdentityAppId, PrincipalType, ArmResourceId, Resource, ResourceId, ResourceAppId, Permission,
PermissionId, RiskLevel, AssignmentId, CreatedDateTime, Drift; one row per line, LF line ends,
so that a file kept in git shows changes line by line. CSV is UTF-8 with a byte-order mark (Excel
on Windows reads a CSV without one in the ANSI code page, garbling non-ASCII names); JSON is UTF-8
without one. Import-Csv and ConvertFrom-Json read the files back; a JSON export is accepted as a
-Baseline.
'@
        Parameters  = @{
            InputObject = 'Report rows (from the pipeline).'
            Path = 'The file to write (overwritten).'
            Format = 'Csv or Json (default: Json for a .json file, else Csv).'
        }
        Examples    = @(
            @{
                Title = 'Keep the tenant''s permissions in git'
                Code  = 'Get-GraphAppRoleReport -PrincipalType All | Sort-Object IdentityName, Resource, Permission | Export-GraphAppRoleReport -Path .\approles.csv'
            }
        )
        Outputs     = 'System.IO.FileInfo'
    }
    'Find-GraphPermission' = @{
        Synopsis    = 'Names the least privileged Microsoft Graph permissions for a request (method and path) or for a Microsoft Graph PowerShell command, and every other permission that allows it.'
        Description = @'
Looks the request up in Microsoft's published Graph permissions reference
(microsoftgraph/microsoft-graph-devx-content, permissions/new/permissions.json; the commit is
in the engine's SOURCE file), which the engine carries: no connection is needed and nothing is
sent anywhere. -Uri may be a full URL, a /v1.0 or /beta path or a relative path; ids, key
segments (servicePrincipals(appId='…')), function parameters, $value, query strings and case
are matched to Microsoft's path templates. The result names the least privileged application
permission(s) (what a managed identity is granted; "A + B" when the data says A also requires
B), the least privileged delegated permission(s), every permission that also allows the
request ordered by privilege, and says so explicitly when no application permission supports
the request (then no managed identity can call it). -Command looks a Microsoft Graph
PowerShell command up in that module's own command map (MgCommandMetadata.json of the newest
installed Microsoft.Graph.Authentication, or -CommandMetadataPath): one result per variant.
'@
        Parameters  = @{
            Uri = 'The request: a Graph URL, a /v1.0 or /beta path, or a path relative to the version.'
            Method = 'The HTTP method (default GET).'
            Command = 'A Microsoft Graph PowerShell command name (Get-MgUser): every variant of it is looked up.'
            CommandMetadataPath = @'
The Microsoft Graph PowerShell command map to read (default: custom/common/MgCommandMetadata.json
of the newest installed Microsoft.Graph.Authentication).
'@
        }
        Examples    = @(
            @{
                Title = 'Which application permission does sending mail need?'
                Code  = 'Find-GraphPermission -Method POST -Uri https://graph.microsoft.com/v1.0/users/ops@contoso.com/sendMail'
            }
            @{
                Title = 'Can a managed identity call the Excel workbook API? (No: delegated only.)'
                Code  = 'Find-GraphPermission /me/drive/items/01ABC/workbook/worksheets | Format-List Application, Delegated, Note'
            }
            @{
                Title = 'The permissions of a Microsoft Graph PowerShell command'
                Code  = 'Find-GraphPermission -Command Get-MgUser'
            }
        )
        Outputs     = 'ManagedIdentity.GraphPermission'
    }
    'Get-RunbookPermission' = @{
        Synopsis    = 'Lists every Microsoft Graph call site of a runbook with its method, path template and least privileged permissions.'
        Description = @'
Parses the script with PowerShell's own parser (nothing is run, no regex on its text) and lists
each call of Invoke-GraphApiRequest, Invoke-MgGraphRequest, Invoke-RestMethod or
Invoke-WebRequest to a Graph URL, and each Microsoft Graph PowerShell command (*-Mg*, through
that module's command map: MgCommandMetadata.json of the newest installed
Microsoft.Graph.Authentication, or -CommandMetadataPath). Literal strings, variables the script
sets to text, expandable strings, concatenation and splatted hashtables are resolved; a part
the script does not set as text (a loop variable, a parameter) makes its path segment {id}.
A call whose URI or method cannot be resolved, a path Microsoft's data does not list, and an Mg
command without a command map are rows that say so (Status Unresolved, NotInData,
CommandMapMissing, UnknownCommand); nothing is dropped. A call no application permission
supports has Status NoApplicationPermission. Scripts over 4 MB or nested over 100 brackets
deep are refused (ManagedIdentity.ScriptTooLarge, ManagedIdentity.ScriptTooDeep), as are
scripts with syntax errors (ManagedIdentity.ScriptParseError). No connection is needed.
'@
        Parameters  = @{
            Path = 'The script file(s) to analyse (wildcards allowed; pipe Get-ChildItem output).'
            ScriptBlock = 'A script block to analyse instead of a file.'
            CommandMetadataPath = @'
The Microsoft Graph PowerShell command map to read (default: custom/common/MgCommandMetadata.json
of the newest installed Microsoft.Graph.Authentication).
'@
        }
        Examples    = @(
            @{
                Title = 'The permissions a runbook needs'
                Code  = 'Get-RunbookPermission -Path .\Send-SignInReport.ps1'
            }
            @{
                Title = 'The application permissions of every runbook in a folder, once each'
                Code  = 'Get-ChildItem .\runbooks\*.ps1 | Get-RunbookPermission | ForEach-Object Application | Sort-Object -Unique'
            }
        )
        Outputs     = 'ManagedIdentity.RunbookCall'
    }
    'Test-RunbookPermission' = @{
        Synopsis    = 'Compares the Microsoft Graph permissions a runbook needs with those its identity holds: Missing, Broader, Excess (with risk level) and Satisfied.'
        Description = @'
Analyses the script as Get-RunbookPermission does, reads the identity's app-role assignments
on Microsoft Graph as Get-GraphAppRoleAssignment does (needs Application.Read.All), and
writes one row per permission: Missing (needed, not granted, and no held permission covers
the call), Broader (a call is covered only by a more privileged held permission: InsteadOf
names it, Name the least one to grant instead), Excess (granted and needed by no call site,
with the risk level of Get-GraphAppRoleReport) and Satisfied, each with the call sites behind
it; calls no permission of the scheme allows (NotSupported) and calls that could not be
resolved (Unresolved) are rows too. Each row carries IdentityId, Resource and Permission (what
the identity should hold for that row; nothing for Excess), so piping the rows into
Set-GraphAppRole makes the identity's Graph roles exactly the least set, and into
Grant-GraphAppRole grants what is missing; -WhatIf shows the change first.
-Scheme Delegated compares with the current context's delegated scopes instead.
'@
        Parameters  = @{
            Path = 'The script file(s) to analyse (wildcards allowed; pipe Get-ChildItem output).'
            ScriptBlock = 'A script block to analyse instead of a file.'
            Identity = @'
The identity whose permissions are compared: object id, app id, ARM resource id, exact display
name, or an object of this module (default: the current context's identity).
'@
            Scheme = 'Application (default: the identity''s app roles) or Delegated (the context''s delegated scopes).'
            CommandMetadataPath = @'
The Microsoft Graph PowerShell command map to read (default: custom/common/MgCommandMetadata.json
of the newest installed Microsoft.Graph.Authentication).
'@
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'What does the runbook''s identity hold beyond what the runbook needs?'
                Code  = 'Test-RunbookPermission -Path .\Send-SignInReport.ps1 -Identity MI-AA-MgPowerShell1'
            }
            @{
                Title = 'Make the identity hold exactly the least privileged set (preview first)'
                Code  = @'
Test-RunbookPermission -Path .\Send-SignInReport.ps1 -Identity MI-AA-MgPowerShell1 | Set-GraphAppRole -WhatIf
Test-RunbookPermission -Path .\Send-SignInReport.ps1 -Identity MI-AA-MgPowerShell1 | Set-GraphAppRole
'@
            }
        )
        Outputs     = 'ManagedIdentity.RunbookPermission'
    }
    'Test-IdentityPermission' = @{
        Synopsis    = 'Tells whether Microsoft Graph permissions are in the token this identity uses now, granted but not yet in it, or not granted.'
        Description = @'
For each permission, one row: Present (in the token requests use now), NotYetInToken (assigned
to the identity in the directory, but the token predates the grant: a managed identity's token
keeps the roles it was issued with, and the platform's endpoint caches it, IMDS for up to 24
hours), NotGranted, or Unknown (not in the token, and the identity may not read its own app role
assignments, which needs Application.Read.All). Rows show when the token was issued, when it
expires, and for endpoints whose cache a client cannot skip (IMDS, Azure Automation, Arc, Cloud
Shell, Azure ML) until when the old token may still be handed back (CachedUntil).
-Refresh asks for a new token first: the module's cache is bypassed, and App Service, Functions
and Service Fabric are asked to replace their cached token as MSAL asks them
(token_sha256_to_refresh). -Wait renews with backoff until every permission is present, with
progress, and fails with ManagedIdentity.Timeout after -TimeoutSec. For a user's sign-in the
permissions are the token's delegated scopes.
'@
        Parameters  = @{
            Permission = 'Microsoft Graph permission names (app roles for an app or managed identity, scopes for a user).'
            Refresh = 'Ask for a new token first instead of using the cached one.'
            Wait = 'Renew the token with backoff until every permission is in it, at most -TimeoutSec seconds.'
            TimeoutSec = 'How long -Wait waits, in seconds (1 to 86400; default 300).'
            Context = @'
A context returned by Connect-Identity in this runspace (default: this runspace's current
context). A context from another runspace is refused (ManagedIdentity.ForeignContext).
'@
        }
        Examples    = @(
            @{
                Title = 'In a runbook: is the role granted a minute ago usable yet?'
                Code  = 'Test-IdentityPermission -Permission AuditLog.Read.All -Refresh'
            }
            @{
                Title = 'A pipeline that grants, then waits until the runbook''s token carries the role'
                Code  = @'
Grant-GraphAppRole -Identity $mi -Permission Mail.Send
Test-IdentityPermission -Permission Mail.Send -Wait -TimeoutSec 600 -Context $runbookContext
'@
            }
        )
        Outputs     = 'ManagedIdentity.IdentityPermission'
    }
}
