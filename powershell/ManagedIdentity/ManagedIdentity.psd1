@{
    RootModule           = 'bin/ManagedIdentity.Interop.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '4f6b2a8e-93c1-4d57-b0e2-7a1c5d9e3f10'
    Author               = 'ManagedIdentity developers'
    Copyright            = '(c) ManagedIdentity developers. MIT License.'
    Description          = 'Azure managed-identity tokens and Microsoft Graph app-role management from a small Rust engine: fast to import, no .NET assembly conflicts, idempotent and injection-proof.'
    PowerShellVersion    = '5.1'
    # Lists are written as comma lists, not @(...): PowerShell evaluates an @(...) holding items
    # through a pipeline and dynamic binders, which costs every import about 60 JIT-compiled
    # methods on a pwsh that is not ReadyToRun-compiled (the Bench's JIT census counts them).
    CompatiblePSEditions = 'Desktop', 'Core'
    DotNetFrameworkVersion = '4.7.2'
    # No FormatsToProcess: importing a format file rebuilds the session's whole format table.
    # The views in formats/ are loaded on the first ManagedIdentity-typed output instead
    # (interop/FormatLoader.cs); until then objects show their default display properties.
    FunctionsToExport    = @()
    CmdletsToExport      = 'Connect-Identity',
                           'Disconnect-Identity',
                           'Get-IdentityContext',
                           'Get-IdentityToken',
                           'Test-IdentityEndpoint',
                           'Get-GraphAppRole',
                           'Grant-GraphAppRole',
                           'Revoke-GraphAppRole',
                           'Set-GraphAppRole',
                           'Get-GraphAppRoleAssignment',
                           'Invoke-GraphApiRequest',
                           'Get-GraphAppRoleReport',
                           'Export-GraphAppRoleReport',
                           'New-UserAssignedIdentity',
                           'Get-UserAssignedIdentity',
                           'Remove-UserAssignedIdentity',
                           'Get-AutomationAccountIdentity',
                           'Set-AutomationAccountIdentity',
                           'Find-GraphPermission',
                           'Get-RunbookPermission',
                           'Test-RunbookPermission',
                           'Test-IdentityPermission'
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            # ProjectUri, LicenseUri and ReleaseNotes are written into the packaged manifest from
            # Cargo.toml's [workspace.package] repository (powershell/build/Package.ps1).
            Tags       = 'Azure', 'ManagedIdentity', 'MicrosoftGraph', 'AzureAutomation', 'Runbook', 'AppRole'
        }
    }
}
