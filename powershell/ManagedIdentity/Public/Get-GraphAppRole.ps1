function Get-GraphAppRole {
    <#
    .SYNOPSIS
        Lists the application permissions (app roles) an API offers to applications and managed
        identities.
    .DESCRIPTION
        Returns the roles of the resource's service principal that can be granted to a service
        principal (roles that only users can hold are left out), sorted by value. -Resource
        accepts an alias (Graph, Exchange, SharePoint, KeyVault, ARM), an appId, an object id, a
        token audience or an exact display name; a look-alike of a Microsoft API that Microsoft
        does not own is refused. Needs Application.Read.All.
    .PARAMETER Name
        Role value to match; wildcards * and ? are allowed (e.g. 'Mail.*'). Tab completion lists
        the values when connected.
    .PARAMETER Resource
        The API (default: Graph).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook: which mail permissions exist, and what do they allow?
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        Get-GraphAppRole -Name 'Mail.*' | Format-Table Value, DisplayName
    .EXAMPLE
        Get-GraphAppRole -Resource Exchange
    .OUTPUTS
        ManagedIdentity.AppRole
    #>
    [CmdletBinding()]
    [OutputType('ManagedIdentity.AppRole')]
    param(
        [Parameter(Position = 0)]
        [SupportsWildcards()]
        [Alias('Value', 'Permission')]
        [string] $Name,

        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty()]
        [string] $Resource = 'Graph',

        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    $resolvedContext = Resolve-ManagedIdentityContext -Cmdlet $PSCmdlet -Context $Context
    $arguments = @{ context = $resolvedContext.Handle; resource = $Resource }
    if ($Name) { $arguments.name = $Name }
    $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'graph.appRoles' -Arguments $arguments `
        -ItemTypeName 'ManagedIdentity.AppRole' -Target $Resource
}
