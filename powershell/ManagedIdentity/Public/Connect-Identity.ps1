function Connect-Identity {
    <#
    .SYNOPSIS
        Connects with a managed identity (or an access token) and makes it this runspace's
        current context.
    .DESCRIPTION
        -Identity finds the managed-identity endpoint of the host (Azure Automation sandbox,
        App Service / Functions, or IMDS on a VM or hybrid worker), acquires a token for the
        default resource and returns the context with the roles the token carries.
        A user-assigned identity is chosen with exactly one of -ClientId (its client/application
        id), -ObjectId (its object/principal id) or -ResourceId (its ARM resource id). Passing the
        object id to -ClientId still works, with a warning naming the right parameter.
        -AccessToken connects with a token you already have (no refresh is possible).
        The context is stored per runspace (Automation jobs that share a process never see each
        other's identity); tokens are cached per process and shared by contexts of one identity.
    .PARAMETER Identity
        Use the host's managed identity.
    .PARAMETER ClientId
        Client (application) id of a user-assigned identity.
    .PARAMETER ObjectId
        Object (principal) id of a user-assigned identity.
    .PARAMETER ResourceId
        ARM resource id of a user-assigned identity (/subscriptions/.../userAssignedIdentities/name).
    .PARAMETER AccessToken
        An access token as a SecureString (for example from another tool).
    .PARAMETER Resource
        Default resource for Get-IdentityToken (default: Microsoft Graph).
    .PARAMETER GraphEndpoint
        Microsoft Graph base URL for a national cloud or a local emulator. HTTPS only; plain http
        is accepted for loopback addresses.
    .PARAMETER TimeoutSec
        Upper bound for acquiring one token, retries included (default 100).
    .EXAMPLE
        # Azure Automation runbook, system-assigned identity
        Import-Module ManagedIdentity
        $context = Connect-Identity -Identity
        $context.Roles
    .EXAMPLE
        # User-assigned identity by client id
        Connect-Identity -Identity -ClientId 6b2d1e4f-9c8e-4f3b-8d7a-2e4c6f8b0d02
    .EXAMPLE
        Connect-Identity -AccessToken (Get-IdentityToken)
    .OUTPUTS
        ManagedIdentity.Context
    #>
    [CmdletBinding(DefaultParameterSetName = 'ManagedIdentity')]
    [OutputType('ManagedIdentity.Context')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'ManagedIdentity')]
        [Alias('ManagedIdentity', 'MSI')]
        [switch] $Identity,

        [Parameter(ParameterSetName = 'ManagedIdentity')]
        [ValidateNotNullOrEmpty()]
        [string] $ClientId,

        [Parameter(ParameterSetName = 'ManagedIdentity')]
        [ValidateNotNullOrEmpty()]
        [string] $ObjectId,

        [Parameter(ParameterSetName = 'ManagedIdentity')]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceId,

        [Parameter(Mandatory, ParameterSetName = 'AccessToken')]
        [securestring] $AccessToken,

        [ValidateNotNullOrEmpty()]
        [string] $Resource,

        [ValidateNotNullOrEmpty()]
        [string] $GraphEndpoint,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec
    )
    $arguments = @{
        method      = $PSCmdlet.ParameterSetName
        environment = [ManagedIdentity.Interop.Engine]::EnvironmentSnapshot()
    }
    foreach ($name in 'ClientId', 'ObjectId', 'ResourceId', 'Resource', 'GraphEndpoint') {
        if ($PSBoundParameters.ContainsKey($name)) { $arguments[$name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)] = $PSBoundParameters[$name] }
    }
    if ($PSBoundParameters.ContainsKey('TimeoutSec')) { $arguments.timeoutSeconds = $TimeoutSec }
    $description = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'identity.connect' -Arguments $arguments -Secret $AccessToken
    $context = ConvertTo-ManagedIdentityContext -Description $description
    [ManagedIdentity.Interop.ContextStore]::Current = $context
    $context
}
