function Get-GraphPermissionCompletion {
    <#
    .SYNOPSIS
        Role values of a resource that start with a prefix, for tab completion. Outputs nothing
        when not connected.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [string] $Resource,
        [string] $Prefix,
        [object] $Context
    )
    if ($null -eq $Context) {
        $Context = [ManagedIdentity.Interop.ContextStore]::Current
    }
    if ($null -eq $Context -or $null -eq $Context.PSObject.Properties['Handle']) { return }
    $arguments = @{ context = $Context.Handle; prefix = [string]$Prefix }
    if (-not [string]::IsNullOrWhiteSpace($Resource)) { $arguments.resource = $Resource }
    $null = Invoke-ManagedIdentityEngine -Cmdlet $PSCmdlet -Operation 'graph.permissionNames' -Arguments $arguments
}

# Registered at import (cheap: no engine call until a user presses Tab). Wrapped in a script
# block so that dot-sourcing the module into a runbook leaves no variable behind.
& {
    $completer = {
        param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
        $ProgressPreference = 'SilentlyContinue'
        $prefix = ([string]$wordToComplete).Trim([char[]]@([char]39, [char]34)).TrimEnd([char[]]@([char]42, [char]63))
        $resource = $null
        $context = $null
        if ($null -ne $fakeBoundParameters) {
            if ($fakeBoundParameters.ContainsKey('Resource')) { $resource = [string]$fakeBoundParameters['Resource'] }
            if ($fakeBoundParameters.ContainsKey('Context')) { $context = $fakeBoundParameters['Context'] }
        }
        try {
            $names = @(Get-GraphPermissionCompletion -Resource $resource -Prefix $prefix -Context $context -ErrorAction Stop -WarningAction SilentlyContinue -Verbose:$false)
        }
        catch {
            return
        }
        foreach ($name in $names) {
            $text = [string]$name
            New-Object System.Management.Automation.CompletionResult ($text, $text, [System.Management.Automation.CompletionResultType]::ParameterValue, $text)
        }
    }
    Register-ArgumentCompleter -CommandName 'Grant-GraphAppRole', 'Revoke-GraphAppRole', 'Set-GraphAppRole' -ParameterName 'Permission' -ScriptBlock $completer
    Register-ArgumentCompleter -CommandName 'Get-GraphAppRole' -ParameterName 'Name' -ScriptBlock $completer
}
