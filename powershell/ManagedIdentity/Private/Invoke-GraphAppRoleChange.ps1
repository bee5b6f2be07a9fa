function Add-GraphAppRoleRequest {
    <#
    .SYNOPSIS
        Records one pipeline record of Grant/Revoke/Set-GraphAppRole as engine requests
        ({identity, permissions, resource} per identity). Merging and grouping are the engine's.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [AllowEmptyCollection()] [System.Collections.Generic.List[object]] $Requests,
        [AllowEmptyCollection()] [AllowNull()] [string[]] $Identity,
        [AllowEmptyCollection()] [AllowNull()] [string[]] $Permission,
        [AllowEmptyString()] [AllowNull()] [string] $Resource
    )
    foreach ($name in @($Identity)) {
        if ([string]::IsNullOrWhiteSpace($name)) { continue }
        $Requests.Add(@{ identity = $name; permissions = [string[]]@($Permission | Where-Object { $_ }); resource = $Resource })
    }
}

function Invoke-GraphAppRoleChange {
    <#
    .SYNOPSIS
        end{} of Grant/Revoke/Set-GraphAppRole: asks ShouldProcess once per request, then runs
        one bulk engine operation for the approved requests and, under -WhatIf, one preview
        (whatIf = true: the engine reads but never writes) for the others. Results are written
        to the pipeline by Invoke-ManagedIdentityEngine through the caller's $PSCmdlet.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [ValidateSet('graph.grant', 'graph.revoke', 'graph.set')] [string] $Operation,
        [Parameter(Mandatory)] [object] $Context,
        [Parameter(Mandatory)] [AllowEmptyCollection()] [System.Collections.Generic.List[object]] $Requests,
        [bool] $Preview,
        [int] $Concurrency
    )
    $approved = New-Object System.Collections.Generic.List[object]
    $previewed = New-Object System.Collections.Generic.List[object]
    foreach ($request in $Requests) {
        $resource = $request.resource
        if ([string]::IsNullOrWhiteSpace($resource)) { $resource = 'Graph' }
        $permissionText = $request.permissions -join ', '
        switch ($Operation) {
            'graph.grant' { $action = "Grant $permissionText on $resource" }
            'graph.revoke' { $action = "Revoke $permissionText on $resource" }
            default {
                if ($request.permissions.Count -eq 0) { $action = "Remove every app role on $resource" }
                else { $action = "Set app roles on $resource to exactly $permissionText" }
            }
        }
        if ($Cmdlet.ShouldProcess($request.identity, $action)) { $approved.Add($request) }
        elseif ($Preview) { $previewed.Add($request) }
    }
    foreach ($run in @(@{ Requests = $approved; WhatIf = $false }, @{ Requests = $previewed; WhatIf = $true })) {
        if ($run.Requests.Count -eq 0) { continue }
        $arguments = @{ context = $Context.Handle; requests = $run.Requests.ToArray(); whatIf = $run.WhatIf }
        if ($Concurrency -gt 0) { $arguments.concurrency = $Concurrency }
        $null = Invoke-ManagedIdentityEngine -Cmdlet $Cmdlet -Operation $Operation -Arguments $arguments `
            -ItemTypeName 'ManagedIdentity.AppRoleGrantResult'
    }
}
