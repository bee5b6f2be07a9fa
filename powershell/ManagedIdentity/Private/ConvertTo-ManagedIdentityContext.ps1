function ConvertTo-ManagedIdentityContext {
    <#
    .SYNOPSIS
        Shapes the engine's context description into the ManagedIdentity.Context output object.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] [object] $Description)
    $Description.PSObject.TypeNames.Insert(0, 'ManagedIdentity.Context')
    # The engine's handle type, so hot paths pass it without a conversion.
    $Description.Handle = [uint64]$Description.Handle
    if ($Description.ExpiresOn) { $Description.ExpiresOn = [datetimeoffset]$Description.ExpiresOn }
    $Description.Roles = [string[]]@($Description.Roles)
    $Description
}
