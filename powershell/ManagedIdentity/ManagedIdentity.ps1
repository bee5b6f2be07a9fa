# ManagedIdentity entry point for scripts and runbooks that dot-source instead of importing:
#     . ./ManagedIdentity/ManagedIdentity.ps1
# gives the same compiled commands as
#     Import-Module ./ManagedIdentity
# (the cmdlets are imported from bin/ManagedIdentity.Interop.dll into the caller's scope).
# Windows PowerShell 5.1 syntax only. No cmdlets from other modules (Join-Path alone would
# auto-load a whole module), and nothing left behind in the caller's scope.
Import-Module -Name ([System.IO.Path]::Combine($PSScriptRoot, 'bin', 'ManagedIdentity.Interop.dll'))
