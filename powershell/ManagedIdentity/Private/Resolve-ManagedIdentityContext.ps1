function Resolve-ManagedIdentityContext {
    <#
    .SYNOPSIS
        The context a command works with: the explicit -Context, else this runspace's current
        one; a terminating NotConnected error (attributed to the calling command) otherwise.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [object] $Context
    )
    if ($null -eq $Context) {
        $Context = [ManagedIdentity.Interop.ContextStore]::Current
    }
    if ($null -eq $Context) {
        $notConnected = [pscustomobject]@{
            errorId  = 'ManagedIdentity.NotConnected'
            kind     = 'NotConnected'
            category = 'InvalidOperation'
            message  = 'Not connected. Run Connect-Identity first (for example Connect-Identity -Identity), or pass -Context.'
        }
        $Cmdlet.ThrowTerminatingError((New-ManagedIdentityErrorRecord -EngineError $notConnected))
    }
    $Context
}
