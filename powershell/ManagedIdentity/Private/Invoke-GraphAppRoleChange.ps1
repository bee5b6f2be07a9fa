function Invoke-GraphAppRoleChange {
    <#
    .SYNOPSIS
        end{} of Grant/Revoke/Set-GraphAppRole. process{} only collected the bound parameters of
        each pipeline record ({identity, permissions, resource}); this asks ShouldProcess once per
        identity, then runs
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
        $permissions = [string[]]@($request.permissions)
        $resource = $request.resource
        if ([string]::IsNullOrWhiteSpace($resource)) { $resource = 'Graph' }
        $permissionText = $permissions -join ', '
        switch ($Operation) {
            'graph.grant' { $action = "Grant $permissionText on $resource" }
            'graph.revoke' { $action = "Revoke $permissionText on $resource" }
            default {
                if ($permissions.Count -eq 0) { $action = "Remove every app role on $resource" }
                else { $action = "Set app roles on $resource to exactly $permissionText" }
            }
        }
        foreach ($identity in @($request.identity)) {
            if ([string]::IsNullOrWhiteSpace($identity)) { continue }
            $entry = @{ identity = $identity; permissions = $permissions; resource = $request.resource }
            if ($Cmdlet.ShouldProcess($identity, $action)) { $approved.Add($entry) }
            elseif ($Preview) { $previewed.Add($entry) }
        }
    }
    foreach ($run in @(@{ Requests = $approved; WhatIf = $false }, @{ Requests = $previewed; WhatIf = $true })) {
        if ($run.Requests.Count -eq 0) { continue }
        $arguments = @{ context = $Context.Handle; requests = $run.Requests.ToArray(); whatIf = $run.WhatIf }
        if ($Concurrency -gt 0) { $arguments.concurrency = $Concurrency }
        $null = Invoke-ManagedIdentityEngine -Cmdlet $Cmdlet -Operation $Operation -Arguments $arguments `
            -ItemTypeName 'ManagedIdentity.AppRoleGrantResult'
    }
}
