# ManagedIdentity entry point. Either import the module:
#     Import-Module ./ManagedIdentity
# or dot-source this file into a runbook or script:
#     . ./ManagedIdentity/ManagedIdentity.ps1
# Both give the same commands. Windows PowerShell 5.1 syntax only in this module.

$script:ManagedIdentityRoot = $PSScriptRoot
$null = [System.Reflection.Assembly]::LoadFrom((Join-Path $PSScriptRoot 'bin/ManagedIdentity.Interop.dll'))
[ManagedIdentity.Interop.NativeLoader]::Initialize($PSScriptRoot)
if (-not $ExecutionContext.SessionState.Module) {
    # Dot-sourced: no manifest loads the formats for us.
    Update-FormatData -PrependPath (Join-Path $PSScriptRoot 'ManagedIdentity.Format.ps1xml') -ErrorAction SilentlyContinue
}

#region parts
foreach ($part in @(Get-ChildItem (Join-Path $PSScriptRoot 'Private') -Filter *.ps1) + @(Get-ChildItem (Join-Path $PSScriptRoot 'Public') -Filter *.ps1)) {
    . $part.FullName
}
#endregion parts
