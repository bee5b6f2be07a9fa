function Set-GraphAppRole {
    <#
    .SYNOPSIS
        Makes an identity's app roles on one API exactly the given set: grants what is missing,
        revokes what is extra, and shows the plan under -WhatIf.
    .DESCRIPTION
        Declarative counterpart of Grant-GraphAppRole / Revoke-GraphAppRole, for runbooks that
        keep permissions as configuration. Roles of other APIs are never touched. An empty
        -Permission list (@()) removes every role the identity holds on the resource.
        One result per identity and role involved: AlreadyGranted (kept), Granted or WouldGrant
        (missing), Revoked or WouldRevoke (extra), Failed (also written as a non-terminating
        error). Pipeline input is collected; the permissions given for the same identity are
        combined into its wanted set, and everything runs as one bulk operation at the end.

        The calling identity needs AppRoleAssignment.ReadWrite.All and Application.Read.All.
    .PARAMETER Identity
        Managed identities (or other service principals). Accepts pipeline input by value and
        by the property names Identity, IdentityId, ObjectId, PrincipalId, Id and DisplayName.
    .PARAMETER Permission
        The complete wanted set of role values on the resource.
    .PARAMETER Resource
        The API that defines the roles (default: Graph).
    .PARAMETER Concurrency
        Batches in flight at once (1 to 16; default chosen by the engine).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook enforcing the permissions of the reporting identity
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        $wanted = 'Mail.Send', 'AuditLog.Read.All', 'Application.Read.All'
        Set-GraphAppRole -Identity 'uami-reports' -Permission $wanted -Confirm:$false |
            Where-Object Status -NE 'AlreadyGranted' | Format-Table Identity, Permission, Status
    .EXAMPLE
        # Show the plan only
        Set-GraphAppRole -Identity uami-reports -Permission User.Read.All -WhatIf
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
        [AllowEmptyCollection()]
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
        Invoke-GraphAppRoleChange -Cmdlet $PSCmdlet -Operation 'graph.set' -Context $resolvedContext -Requests $requests `
            -Preview ([bool]$WhatIfPreference) -Concurrency $Concurrency
    }
}
