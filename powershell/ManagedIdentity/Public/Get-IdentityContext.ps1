function Get-IdentityContext {
    <#
    .SYNOPSIS
        Shows the current (or given) context: who you are, from which source, and the roles
        your token carries.
    .DESCRIPTION
        Returns auth type, detected source, client id, object id, tenant id, ARM resource id, the
        Roles claim of the token and its expiry. Warns when the token carries no roles: new app
        role grants only appear in a newly issued token, and managed-identity endpoints may serve
        a cached token for up to 24 hours. Returns nothing when not connected.
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # In a runbook: prove the grants reached the token
        Connect-Identity -Identity | Out-Null
        (Get-IdentityContext).Roles -contains 'Mail.Send'
    .OUTPUTS
        ManagedIdentity.Context
    #>
    [CmdletBinding()]
    [OutputType('ManagedIdentity.Context')]
    param(
        [Parameter(ValueFromPipeline)]
        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    process {
        if ($null -eq $Context) {
            $Context = [ManagedIdentity.Interop.ContextStore]::Current
            if ($null -eq $Context) { return }
        }
        $description = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'identity.context' -Arguments @{ context = $Context.Handle } -Target $Context
        ConvertTo-ManagedIdentityContext -Description $description
    }
}
