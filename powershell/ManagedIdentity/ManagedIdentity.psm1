# Module entry: everything lives in ManagedIdentity.ps1 (which a script may also dot-source).
# The manifest's FunctionsToExport decides what the module exports.
. ([System.IO.Path]::Combine($PSScriptRoot, 'ManagedIdentity.ps1'))
