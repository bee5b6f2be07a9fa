function Invoke-GraphRequest {
    <#
    .SYNOPSIS
        Sends any request to Microsoft Graph with the context's token: retries, typed errors
        and, with -All, every page of a collection.
    .DESCRIPTION
        The escape hatch for everything the other commands do not cover. -Uri is a path
        (/v1.0/..., /beta/...; a path without a version gets /v1.0) or an absolute URL on the
        context's Graph endpoint (the token is never sent anywhere else).
        Throttling (429 with Retry-After) and transient failures (5xx, broken connections) are
        retried; other failures are terminating errors with a stable id (ManagedIdentity.NotFound,
        ManagedIdentity.PermissionDenied, ...) carrying Graph's code and request-id.
        Output: the response body as objects; with -All each element of the collection's value
        array, following @odata.nextLink across every page (GET only). Properties keep Graph's
        own names. Requests other than GET honour -WhatIf and -Confirm.
    .PARAMETER Uri
        Path or absolute URL on the Graph endpoint.
    .PARAMETER Method
        GET (default), POST, PUT, PATCH or DELETE.
    .PARAMETER Body
        Request body: a string is sent as is; a hashtable or object is sent as JSON.
    .PARAMETER All
        Follow @odata.nextLink and output each element of every page.
    .PARAMETER Headers
        Extra request headers (e.g. @{ ConsistencyLevel = 'eventual' }). Authorization is
        always the context's token and cannot be overridden.
    .PARAMETER Context
        A context returned by Connect-Identity (default: this runspace's current context).
    .EXAMPLE
        # Azure Automation runbook: every managed identity in the tenant
        Import-Module ManagedIdentity
        Connect-Identity -Identity | Out-Null
        Invoke-GraphRequest -Uri "/v1.0/servicePrincipals?`$filter=servicePrincipalType eq 'ManagedIdentity'" -All |
            Select-Object displayName, id
    .EXAMPLE
        # Send a mail as a user (needs Mail.Send)
        $mail = @{ message = @{ subject = 'Report'; body = @{ content = 'Done.' }; toRecipients = @(@{ emailAddress = @{ address = 'ops@contoso.com' } }) } }
        Invoke-GraphRequest -Method POST -Uri '/v1.0/users/reports@contoso.com/sendMail' -Body $mail
    .OUTPUTS
        System.Management.Automation.PSObject
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $Uri,

        [ValidateSet('GET', 'POST', 'PUT', 'PATCH', 'DELETE')]
        [string] $Method = 'GET',

        [object] $Body,

        [switch] $All,

        [hashtable] $Headers,

        [PSTypeName('ManagedIdentity.Context')] $Context
    )
    $resolvedContext = Resolve-ManagedIdentityContext -Cmdlet $PSCmdlet -Context $Context
    $arguments = @{ context = $resolvedContext.Handle; method = $Method.ToUpperInvariant(); uri = $Uri; all = [bool]$All }
    if ($null -ne $Body) {
        if ($Body -is [string]) { $arguments.body = $Body }
        else { $arguments.body = [ManagedIdentity.Interop.Json]::Serialize($Body) }
    }
    if ($null -ne $Headers -and $Headers.Count -gt 0) {
        $headerTable = @{}
        foreach ($key in $Headers.Keys) { $headerTable[[string]$key] = [string]$Headers[$key] }
        $arguments.headers = $headerTable
    }
    if ($arguments.method -ne 'GET' -and -not $PSCmdlet.ShouldProcess($Uri, $arguments.method)) { return }
    $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'graph.request' -Arguments $arguments -Target $Uri
}
