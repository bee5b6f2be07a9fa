function Grant-GraphAppRole {
    <#
    .SYNOPSIS
        Grants application permissions (app roles) of Microsoft Graph or another API to managed
        identities: idempotently, in bulk, safe under -WhatIf.
    .DESCRIPTION
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

        Identities from the pipeline are collected and granted in one bulk run at the end
        (JSON batching, retries with Retry-After, bounded concurrency). Existing grants are
        reported as AlreadyGranted and cause no write. One result per identity and permission:
        Status Granted, AlreadyGranted, WouldGrant (-WhatIf) or Failed (also written as a
        non-terminating error; the others continue).

        The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
        A granted role reaches the identity's tokens only when a new token is issued.
    .PARAMETER Identity
        Managed identities (or other service principals) to grant to. Accepts pipeline input by
        value and by the property names Identity, IdentityId, ObjectId, PrincipalId, Id and
        DisplayName.
    .PARAMETER Permission
        Role values to grant, e.g. Mail.Send, User.Read.All. Tab completion lists the resource's
        grantable roles when connected.
    .PARAMETER Resource
        The API that defines the roles (default: Graph).
    .PARAMETER Concurrency
        Batches in flight at once (1 to 16; default chosen by the engine).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook (its system-assigned identity holds AppRoleAssignment.ReadWrite.All)
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        Grant-GraphAppRole -Identity 'uami-reports' -Permission Mail.Send, AuditLog.Read.All, Application.Read.All |
            Where-Object Status -EQ 'Failed'
    .EXAMPLE
        # Preview: reads only, writes nothing
        Grant-GraphAppRole -Identity 8e7d6c5b-4a39-4281-9f60-5e4d3c2b1a02 -Permission User.Read.All -WhatIf
    .EXAMPLE
        # Many identities at once from a file of object ids (one bulk run)
        Get-Content ./identities.txt | Grant-GraphAppRole -Permission Sites.Read.All -Confirm:$false
    .EXAMPLE
        # Exchange Online application permission
        Grant-GraphAppRole -Identity uami-mailbox -Resource Exchange -Permission Exchange.ManageAsApp
    .OUTPUTS
        ManagedIdentity.AppRoleGrantResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('ManagedIdentity.AppRoleGrantResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('IdentityId', 'ObjectId', 'PrincipalId', 'Id', 'DisplayName')]
        [ValidateNotNullOrEmpty()]
        [string[]] $Identity,

        [Parameter(Mandatory, Position = 1, ValueFromPipelineByPropertyName)]
        [Alias('Permissions', 'AppRole', 'Value')]
        [ValidateNotNullOrEmpty()]
        [string[]] $Permission,

        [Parameter(ValueFromPipelineByPropertyName)]
        [AllowEmptyString()]
        [string] $Resource = 'Graph',

        [ValidateRange(1, 16)]
        [int] $Concurrency,

        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    begin {
        $resolvedContext = Resolve-ManagedIdentityContext -Cmdlet $PSCmdlet -Context $Context
        $requests = New-Object 'System.Collections.Generic.List[object]'
    }
    process {
        $requests.Add(@{ identity = $Identity; permissions = $Permission; resource = $Resource })
    }
    end {
        Invoke-GraphAppRoleChange -Cmdlet $PSCmdlet -Operation 'graph.grant' -Context $resolvedContext -Requests $requests `
            -Preview ([bool]$WhatIfPreference) -Concurrency $Concurrency
    }
}
