function Add-GraphAppRoleRequest {
    <#
    .SYNOPSIS
        Collects one pipeline record of Grant/Revoke/Set-GraphAppRole or Get-GraphAppRoleAssignment
        into a request book: resource -> identity -> permissions (input order, case-insensitive
        de-duplication). Nothing is looked up here; the engine resolves everything in end{}.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [System.Collections.Specialized.OrderedDictionary] $Book,
        [AllowEmptyCollection()] [AllowNull()] [string[]] $Identity,
        [AllowEmptyCollection()] [AllowNull()] [string[]] $Permission,
        [AllowEmptyString()] [AllowNull()] [string] $Resource
    )
    if ($null -eq $Resource) { $Resource = '' }
    $resourceKey = $Resource.Trim().ToLowerInvariant()
    if (-not $Book.Contains($resourceKey)) {
        $Book[$resourceKey] = @{ Resource = $Resource.Trim(); Identities = New-Object System.Collections.Specialized.OrderedDictionary }
    }
    $identities = $Book[$resourceKey].Identities
    foreach ($name in @($Identity)) {
        if ([string]::IsNullOrWhiteSpace($name)) { continue }
        $identityKey = $name.Trim().ToLowerInvariant()
        if (-not $identities.Contains($identityKey)) {
            $identities[$identityKey] = @{
                Identity    = $name.Trim()
                Permissions = New-Object System.Collections.Generic.List[string]
                Seen        = New-Object 'System.Collections.Generic.HashSet[string]' ([System.StringComparer]::OrdinalIgnoreCase)
            }
        }
        $entry = $identities[$identityKey]
        foreach ($value in @($Permission)) {
            if ([string]::IsNullOrWhiteSpace($value)) { continue }
            if ($entry.Seen.Add($value.Trim())) { $entry.Permissions.Add($value.Trim()) }
        }
    }
}

function Get-GraphAppRoleRequestGroup {
    <#
    .SYNOPSIS
        Turns a request book into engine calls: per resource, identities that ask for the same
        permission set share one call (identities x permissions is then exactly what was asked).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] [System.Collections.Specialized.OrderedDictionary] $Book)
    foreach ($resourceEntry in $Book.Values) {
        $groups = New-Object System.Collections.Specialized.OrderedDictionary
        foreach ($entry in $resourceEntry.Identities.Values) {
            $key = (@($entry.Permissions | ForEach-Object { $_.ToLowerInvariant() } | Sort-Object) -join "`n")
            if (-not $groups.Contains($key)) {
                $groups[$key] = @{
                    Resource    = $resourceEntry.Resource
                    Permissions = [string[]]@($entry.Permissions)
                    Identities  = New-Object System.Collections.Generic.List[string]
                }
            }
            $groups[$key].Identities.Add($entry.Identity)
        }
        foreach ($group in $groups.Values) {
            [pscustomobject]@{
                Resource    = $group.Resource
                Permissions = $group.Permissions
                Identities  = [string[]]$group.Identities.ToArray()
            }
        }
    }
}

function Invoke-GraphAppRoleChange {
    <#
    .SYNOPSIS
        end{} of Grant/Revoke/Set-GraphAppRole: asks ShouldProcess once per identity, then runs
        one bulk engine operation for the approved identities and, under -WhatIf, one preview
        (whatIf = true: the engine reads but never writes) for the others. Results are written
        to the pipeline by Invoke-ManagedIdentityEngine through the caller's $PSCmdlet.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [ValidateSet('graph.grant', 'graph.revoke', 'graph.set')] [string] $Operation,
        [Parameter(Mandatory)] [object] $Context,
        [Parameter(Mandatory)] [System.Collections.Specialized.OrderedDictionary] $Book,
        [string] $DefaultResource = 'Graph',
        [bool] $Preview,
        [int] $Concurrency
    )
    foreach ($group in @(Get-GraphAppRoleRequestGroup -Book $Book)) {
        $resource = $group.Resource
        if ([string]::IsNullOrWhiteSpace($resource)) { $resource = $DefaultResource }
        $permissionText = $group.Permissions -join ', '
        switch ($Operation) {
            'graph.grant' { $action = "Grant $permissionText on $resource" }
            'graph.revoke' { $action = "Revoke $permissionText on $resource" }
            default {
                if ($group.Permissions.Count -eq 0) { $action = "Remove every app role on $resource" }
                else { $action = "Set app roles on $resource to exactly $permissionText" }
            }
        }
        $approved = New-Object System.Collections.Generic.List[string]
        $previewed = New-Object System.Collections.Generic.List[string]
        foreach ($identity in $group.Identities) {
            if ($Cmdlet.ShouldProcess($identity, $action)) { $approved.Add($identity) }
            elseif ($Preview) { $previewed.Add($identity) }
        }
        foreach ($run in @(@{ Identities = $approved; WhatIf = $false }, @{ Identities = $previewed; WhatIf = $true })) {
            if ($run.Identities.Count -eq 0) { continue }
            $arguments = @{
                context     = $Context.Handle
                identities  = [string[]]$run.Identities.ToArray()
                permissions = [string[]]$group.Permissions
                resource    = $resource
                whatIf      = $run.WhatIf
            }
            if ($Concurrency -gt 0) { $arguments.concurrency = $Concurrency }
            $null = Invoke-ManagedIdentityEngine -Cmdlet $Cmdlet -Operation $Operation -Arguments $arguments `
                -ItemTypeName 'ManagedIdentity.AppRoleGrantResult' -Target $group.Permissions
        }
    }
}
