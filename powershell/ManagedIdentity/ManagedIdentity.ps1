# ManagedIdentity entry point. Either import the module:
#     Import-Module ./ManagedIdentity
# or dot-source this file into a runbook or script:
#     . ./ManagedIdentity/ManagedIdentity.ps1
# Both give the same commands. Windows PowerShell 5.1 syntax only in this module.

# No cmdlets from other modules at import (Join-Path alone would auto-load a whole module).
$null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'bin', 'ManagedIdentity.Interop.dll'))
[ManagedIdentity.Interop.NativeLoader]::Initialize($PSScriptRoot)
if (-not $ExecutionContext.SessionState.Module) {
    # Dot-sourced: no manifest loads the formats for us.
    Update-FormatData -PrependPath ([System.IO.Path]::Combine($PSScriptRoot, 'ManagedIdentity.Format.ps1xml')) -ErrorAction SilentlyContinue
}

#region parts
foreach ($part in [System.IO.Directory]::GetFiles([System.IO.Path]::Combine($PSScriptRoot, 'Private'), '*.ps1') + [System.IO.Directory]::GetFiles([System.IO.Path]::Combine($PSScriptRoot, 'Public'), '*.ps1')) {
    . $part
}
#endregion parts
