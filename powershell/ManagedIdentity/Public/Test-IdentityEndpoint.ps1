function Test-IdentityEndpoint {
    <#
    .SYNOPSIS
        Tells which managed-identity source is available here, and why the others are not.
    .DESCRIPTION
        Checks every source in the order the Azure SDKs use (Service Fabric, App Service /
        Azure Automation, Azure ML, Cloud Shell, Azure Arc, workload identity, IMDS) from the
        environment, probes IMDS with a short timeout, and returns one row per source.
    .PARAMETER TimeoutSec
        How long the IMDS probe may take (default 1).
    .EXAMPLE
        # First thing to run when Connect-Identity -Identity fails in a runbook
        Test-IdentityEndpoint | Format-Table
    .OUTPUTS
        ManagedIdentity.EndpointStatus
    #>
    [CmdletBinding()]
    [OutputType('ManagedIdentity.EndpointStatus')]
    param(
        [ValidateRange(1, 60)]
        [int] $TimeoutSec = 1
    )
    $arguments = @{ environment = [ManagedIdentity.Interop.Engine]::EnvironmentSnapshot(); timeoutSeconds = $TimeoutSec }
    $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'identity.testEndpoint' -Arguments $arguments -ItemTypeName 'ManagedIdentity.EndpointStatus'
}
