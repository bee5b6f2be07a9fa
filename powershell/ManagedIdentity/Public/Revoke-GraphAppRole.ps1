function Revoke-GraphAppRole {
    <#
    .SYNOPSIS
        Revokes application permissions (app roles) from managed identities: idempotently, in
        bulk, safe under -WhatIf.
    .DESCRIPTION
        Identities, permissions and the resource are resolved exactly as by Grant-GraphAppRole
        (object id, app id, ARM resource id or an unambiguous exact display name; an unknown
        permission stops the command before any change, with suggestions).
        A permission the identity does not hold is reported as NotAssigned and causes no write.
        One result per identity and permission: Status Revoked, NotAssigned, WouldRevoke
        (-WhatIf) or Failed (also written as a non-terminating error; the others continue).
        Pipe Get-GraphAppRoleAssignment into it to revoke what an audit found.

        The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
    .PARAMETER Identity
        Managed identities (or other service principals) to revoke from. Accepts pipeline input
        by value and by the property names Identity, IdentityId, ObjectId, PrincipalId, Id and
        DisplayName.
    .PARAMETER Permission
        Role values to revoke, e.g. Mail.Send.
    .PARAMETER Resource
        The API that defines the roles (default: Graph).
    .PARAMETER Concurrency
        Batches in flight at once (1 to 16; default chosen by the engine).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook: take Mail.Send away again (no prompt in a runbook)
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        Revoke-GraphAppRole -Identity 'uami-reports' -Permission Mail.Send -Confirm:$false
    .EXAMPLE
        # Revoke every Mail.* permission an identity holds, after a preview
        Get-GraphAppRoleAssignment -Identity uami-reports | Where-Object Permission -Like 'Mail.*' | Revoke-GraphAppRole -WhatIf
    .OUTPUTS
        ManagedIdentity.AppRoleGrantResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
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
        Invoke-GraphAppRoleChange -Cmdlet $PSCmdlet -Operation 'graph.revoke' -Context $resolvedContext -Requests $requests `
            -Preview ([bool]$WhatIfPreference) -Concurrency $Concurrency
    }
}
