function Get-IdentityToken {
    <#
    .SYNOPSIS
        Gets an access token of the current (or given) context, as a SecureString by default.
    .DESCRIPTION
        Served from the process-wide token cache while fresh (refreshed 5 minutes before expiry,
        or at half-life for long-lived tokens); otherwise acquired from the context's source.
    .PARAMETER Resource
        The resource (audience), e.g. https://vault.azure.net or https://management.azure.com.
        A trailing /.default is accepted. Default: the context's resource (Microsoft Graph).
    .PARAMETER ForceRefresh
        Ignore the cache and ask the source for a new token.
    .PARAMETER AsPlainText
        Return a plain string instead of a SecureString (it will be visible in memory and logs).
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Call Key Vault from a runbook
        Connect-Identity -Identity | Out-Null
        $token = Get-IdentityToken -Resource https://vault.azure.net -AsPlainText
        Invoke-RestMethod -Uri "https://myvault.vault.azure.net/secrets/x?api-version=7.4" -Headers @{ Authorization = "Bearer $token" }
    .OUTPUTS
        System.Security.SecureString, or System.String with -AsPlainText
    #>
    [CmdletBinding()]
    [OutputType([securestring], [string])]
    param(
        [string] $Resource,
        [switch] $ForceRefresh,
        [switch] $AsPlainText,
        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    if ($null -eq $Context) {
        $Context = [ManagedIdentity.Interop.ContextStore]::Current
        if ($null -eq $Context) { $Context = Resolve-ManagedIdentityContext -Cmdlet $PSCmdlet }
    }
    if (-not $ForceRefresh) {
        if ($AsPlainText) { $token = [ManagedIdentity.Interop.Engine]::GetCachedTokenAsPlainText($Context.Handle, $Resource) }
        else { $token = [ManagedIdentity.Interop.Engine]::GetCachedToken($Context.Handle, $Resource) }
        if ($null -ne $token) { return $token }
    }
    $arguments = @{ context = $Context.Handle; forceRefresh = [bool]$ForceRefresh }
    if ($Resource) { $arguments.resource = $Resource }
    $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'identity.token' -Arguments $arguments -Target $Context
    if ($AsPlainText) { [ManagedIdentity.Interop.Engine]::GetCachedTokenAsPlainText($Context.Handle, $Resource) }
    else { [ManagedIdentity.Interop.Engine]::GetCachedToken($Context.Handle, $Resource) }
}
