function Get-GraphAppRoleAssignment {
    <#
    .SYNOPSIS
        Lists the application permissions (app-role assignments) managed identities hold, with
        identity, API and permission names resolved.
    .DESCRIPTION
        Identities are resolved exactly as by Grant-GraphAppRole (object id, app id, ARM resource
        id or an unambiguous exact display name). Without -Resource every API's assignments are
        listed; with it, only that API's. One object per assignment; an identity that cannot be
        resolved yields a non-terminating error (the others continue).
        Pipeline input is collected and read in one bulk run at the end. The output pipes into
        Revoke-GraphAppRole. Needs Application.Read.All.
    .PARAMETER Identity
        Managed identities (or other service principals). Accepts pipeline input by value and
        by the property names Identity, IdentityId, ObjectId, PrincipalId, Id and DisplayName.
    .PARAMETER Resource
        Only assignments on this API (alias such as Graph, appId, object id or exact name).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook: audit what the reporting identities may do
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        Get-GraphAppRoleAssignment -Identity 'uami-reports', 'uami-empty' |
            Format-Table IdentityName, Resource, Permission, CreatedDateTime
    .EXAMPLE
        # Only Microsoft Graph permissions, as a plain list
        (Get-GraphAppRoleAssignment -Identity uami-reports -Resource Graph).Permission
    .OUTPUTS
        ManagedIdentity.AppRoleAssignment
    #>
    [CmdletBinding()]
    [OutputType('ManagedIdentity.AppRoleAssignment')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('IdentityId', 'ObjectId', 'PrincipalId', 'Id', 'DisplayName')]
        [ValidateNotNullOrEmpty()]
        [string[]] $Identity,

        [Parameter(Position = 1)]
        [string] $Resource,

        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    begin {
        $resolvedContext = Resolve-ManagedIdentityContext -Cmdlet $PSCmdlet -Context $Context
        $identities = New-Object System.Collections.Generic.List[string]
    }
    process {
        # Collected here, de-duplicated and resolved by the engine in one bulk run.
        foreach ($name in $Identity) { $identities.Add($name) }
    }
    end {
        if ($identities.Count -eq 0) { return }
        $arguments = @{ context = $resolvedContext.Handle; identities = [string[]]$identities.ToArray() }
        if (-not [string]::IsNullOrWhiteSpace($Resource)) { $arguments.resource = $Resource }
        $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'graph.assignments' -Arguments $arguments `
            -ItemTypeName 'ManagedIdentity.AppRoleAssignment' -Target $Resource
    }
}
