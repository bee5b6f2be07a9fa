function Disconnect-Identity {
    <#
    .SYNOPSIS
        Forgets the current (or given) context of this runspace.
    .DESCRIPTION
        Only this runspace's context is removed; other runbook jobs in the same process keep
        theirs. Cached tokens of other contexts are unaffected.
    .PARAMETER Context
        The context to disconnect (default: this runspace's current context).
    .EXAMPLE
        Connect-Identity -Identity | Out-Null
        # ... work ...
        Disconnect-Identity
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    param(
        [Parameter(ValueFromPipeline)]
        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    process {
        $current = [ManagedIdentity.Interop.ContextStore]::Current
        if ($null -eq $Context) { $Context = $current }
        if ($null -eq $Context) { return }
        $name = $Context.ClientId
        if (-not $name) { $name = $Context.AuthType }
        if (-not $PSCmdlet.ShouldProcess($name, 'Disconnect')) { return }
        $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'identity.disconnect' -Arguments @{ context = $Context.Handle } -Target $Context
        if ($null -ne $current -and $current.Handle -eq $Context.Handle) { [ManagedIdentity.Interop.ContextStore]::Current = $null }
    }
}
