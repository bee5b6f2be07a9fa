#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 26: when Microsoft Graph refuses a request, the error names the permission that request
# needs for this kind of sign-in and what the token holds; Test-IdentityPermission tells whether a
# granted role is in the identity's token yet. Against the emulator's platform behaviour: the
# managed-identity endpoints cache a token per identity and resource for 24 h with its roles fixed
# at issue, App Service and Service Fabric replace it on token_sha256_to_refresh, IMDS does not,
# and Graph answers 403 (Graph's body) for calls the token's roles or scopes do not allow,
# following Microsoft's permission data.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:GraphUrl = $Emulator.BaseUrl
    $script:Issuer = "https://sts.windows.net/$($Seed.tenantId)/"
    $script:System = $Seed.identities | Where-Object displayName -EQ 'aa-runbooks'
    $script:Reports = $Seed.identities | Where-Object displayName -EQ 'uami-reports'

    function Get-Refusal {
        # The error record of one call that must fail.
        param([scriptblock] $Call)
        try { & $Call; throw 'the call did not fail' }
        catch [System.Management.Automation.RuntimeException] {
            if ($_.Exception.Message -eq 'the call did not fail') { throw }
            $_
        }
    }
    function Assert-NoSecret {
        param([string] $Text, [securestring] $Token)
        $Text | Should -Not -Match 'eyJ'
        $Text | Should -Not -Match ([regex]::Escape($Emulator.IdentityHeader))
        if ($Token) { $Text | Should -Not -Match ([regex]::Escape([Net.NetworkCredential]::new('', $Token).Password)) }
    }
    function Connect-AppToken {
        # A context holding a token with exactly these app roles (an app-only identity).
        param([string[]] $Roles, [string] $Name = 'aa-ops-automation', [string] $ObjectId = '6f1c2a3b-0000-4000-8000-00000000aa01')
        $script:LastToken = New-EmulatorToken @{ iss = $Issuer; roles = $Roles; oid = $ObjectId; appid = '0a1b2c3d-0000-4000-8000-0000000000a1'; app_displayname = $Name; idtyp = 'app'; tid = $Seed.tenantId }
        Connect-Identity -AccessToken $LastToken -GraphEndpoint $GraphUrl -WarningAction SilentlyContinue
    }
    function Clear-PlatformCache { $null = Invoke-Emulator $Emulator -Method DELETE -Path '/_emulator/tokenCache' }
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'A 403 from Microsoft Graph names the permission the request needs' {
    It 'an application token lacking it: the least privileged role, what the token holds, and the grant that fixes it' {
        $context = Connect-AppToken -Roles 'Directory.Read.All'
        $e = Get-Refusal { Invoke-GraphApiRequest -Uri '/v1.0/auditLogs/signIns?$top=5' -Context $context }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $message = $e.Exception.Message
        $message | Should -BeLike 'GET /auditLogs/signIns needs the application permission AuditLog.Read.All; this token of aa-ops-automation, issued *, holds Directory.Read.All.*'
        $message | Should -Match 'Insufficient privileges to complete the operation \(HTTP 403 Authorization_RequestDenied; request-id [0-9a-f-]{36}\)'
        $message | Should -Not -Match '\$top'
        $e.ErrorDetails.RecommendedAction | Should -Be 'Grant-GraphAppRole -Identity 6f1c2a3b-0000-4000-8000-00000000aa01 -Permission AuditLog.Read.All'
        $facts = $e.TargetObject
        $facts.Request | Should -Be 'GET /auditLogs/signIns'
        $facts.Cause | Should -Be 'MissingPermission'
        $facts.Scheme | Should -Be 'Application'
        @($facts.Needed) | Should -Be @('AuditLog.Read.All')
        @($facts.Held) | Should -Be @('Directory.Read.All')
        @($facts.Missing) | Should -Be @('AuditLog.Read.All')
        $facts.GraphErrorCode | Should -Be 'Authorization_RequestDenied'
        $facts.RequestId | Should -Match '^[0-9a-f-]{36}$'
        Assert-NoSecret ($e | Out-String -Width 4096) $LastToken
        Assert-NoSecret ($facts | ConvertTo-Json -Depth 5) $LastToken
    }

    It 'a delegated token lacking the scope: the scope, the account, and to sign in again' {
        $token = New-EmulatorToken @{ iss = $Issuer; scp = 'User.Read Mail.Send'; upn = 'ada@contoso.example'; oid = '6f1c2a3b-0000-4000-8000-00000000bb01'; tid = $Seed.tenantId; idtyp = 'user' }
        $user = Connect-Identity -AccessToken $token -GraphEndpoint $GraphUrl -WarningAction SilentlyContinue
        $e = Get-Refusal { Invoke-GraphApiRequest -Uri '/v1.0/auditLogs/signIns' -Context $user }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $e.Exception.Message | Should -BeLike 'GET /auditLogs/signIns needs the delegated permission (scope) AuditLog.Read.All; this token of ada@contoso.example, issued *, holds User.Read, Mail.Send.*'
        $e.Exception.Message | Should -Match 'Sign in again asking for the scope'
        $e.TargetObject.Scheme | Should -Be 'DelegatedWork'
        @($e.TargetObject.Missing) | Should -Be @('AuditLog.Read.All')
        $e.ErrorDetails.RecommendedAction | Should -Be 'Connect-Identity -UseDeviceCode -Scopes AuditLog.Read.All'
        Assert-NoSecret ($e | Out-String -Width 4096) $token
    }

    It 'a token holding a permission that should allow the call (Sites.Selected on a site not granted): the cause is elsewhere' {
        $context = Connect-AppToken -Roles 'Sites.Selected'
        $site = $Seed.sites | Where-Object { @($_.grantedTo).Count -eq 0 } | Select-Object -First 1
        $e = Get-Refusal { Invoke-GraphApiRequest -Uri "/v1.0/sites/$($site.id)/lists/l-1/items/7/documentSetVersions" -Context $context }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $e.TargetObject.Cause | Should -Be 'HeldButRefused'
        $e.TargetObject.HeldAllowing | Should -Be 'Sites.Selected'
        $e.Exception.Message | Should -Match 'although this token of aa-ops-automation, issued .*, holds Sites.Selected, and Sites.Selected allows this request: the cause is elsewhere'
        $e.Exception.Message | Should -Match 'resource-specific grant'
        $e.Exception.Message | Should -Match 'Microsoft Graph answered: '
        $e.ErrorDetails.RecommendedAction | Should -Match 'resource-specific grant'
    }

    It 'a request no application permission allows: says so, and that a user''s sign-in is needed' {
        $context = Connect-AppToken -Roles 'Directory.Read.All'
        $e = Get-Refusal { Invoke-GraphApiRequest -Uri '/v1.0/bookingCurrencies' -Context $context }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $e.TargetObject.Cause | Should -Be 'SchemeNotSupported'
        $e.Exception.Message | Should -BeLike 'Microsoft Graph refused GET /bookingCurrencies: no application permission (app role) allows this request, so no grant to this identity can make it work; it needs a user sign-in with the delegated permission (scope) *'
        $e.ErrorDetails.RecommendedAction | Should -Match 'user''s sign-in'
    }

    It 'a path the permission data does not know: Graph''s error unchanged, plus one sentence' {
        $context = Connect-AppToken -Roles 'Directory.Read.All'
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'status'; status = 403; pathContains = 'noSuchThing'; count = 1 }
        try { $e = Get-Refusal { Invoke-GraphApiRequest -Uri '/v1.0/noSuchThing/x' -Context $context } }
        finally { Clear-EmulatorFaults $Emulator }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $e.Exception.Message | Should -BeLike 'Microsoft Graph refused GET /v1.0/noSuchThing/x: *(HTTP 403*'
        $e.Exception.Message | Should -BeLike '* The permission data does not know GET /noSuchThing/x, so the permission it needs cannot be named here.'
        $e.TargetObject.Cause | Should -Be 'NotInPermissionData'
    }

    It 'a refused grant item carries the same explanation (non-terminating, per item)' {
        $context = Connect-AppToken -Roles 'Application.Read.All' -Name 'reader-only'
        $rows = @(Grant-GraphAppRole -Identity $Reports.objectId -Permission Mail.Send -Context $context -Confirm:$false -ErrorVariable errors -ErrorAction SilentlyContinue)
        $rows.Status | Should -Be 'Failed'
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.PermissionDenied,*'
        $errors[0].Exception.Message | Should -Match 'needs the application permission AppRoleAssignment.ReadWrite.All'
        $errors[0].Exception.Message | Should -Match 'this token of reader-only'
        $errors[0].ErrorDetails.RecommendedAction | Should -BeLike 'Grant-GraphAppRole -Identity 6f1c2a3b-0000-4000-8000-00000000aa01 -Permission *AppRoleAssignment.ReadWrite.All*'
    }
}

Describe 'Test-IdentityPermission: a role granted but not yet in the token' {
    BeforeAll {
        Clear-PlatformCache
        Set-IdentityEnvironment $Emulator 'IMDS'
        # aa-runbooks' token is issued (and cached by the platform) before the grant.
        $script:Admin = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $script:GrantWarnings = @()
        $null = Grant-GraphAppRole -Identity $System.objectId -Permission AuditLog.Read.All -Context $Admin -Confirm:$false -WarningVariable grantWarnings -WarningAction SilentlyContinue
        $script:GrantWarnings = @($grantWarnings)
    }
    AfterAll {
        Set-IdentityEnvironment $Emulator 'IMDS'
        $null = Revoke-GraphAppRole -Identity $System.objectId -Permission AuditLog.Read.All, Mail.Send -Context (Connect-Identity -Identity -GraphEndpoint $GraphUrl) -Confirm:$false -WarningAction SilentlyContinue
        Set-EmulatorConfig $Emulator @{ tokenRolesLagMs = 0 }
        Clear-PlatformCache
    }

    It 'the grant said once that older tokens lack the role, and how to check' {
        $GrantWarnings.Count | Should -Be 1
        "$($GrantWarnings[0])" | Should -Match "Tokens that 'aa-runbooks' obtained before this grant lack the new role"
        "$($GrantWarnings[0])" | Should -Match 'Test-IdentityPermission -Permission AuditLog.Read.All -Refresh'
    }

    It 'on IMDS: NotYetInToken, with the token''s issue time and the platform cache''s end' {
        $row = Test-IdentityPermission -Permission AuditLog.Read.All -Context $Admin
        $row.PSObject.TypeNames | Should -Contain 'ManagedIdentity.IdentityPermission'
        $row.Status | Should -Be 'NotYetInToken'
        $row.InToken | Should -BeFalse
        $row.InDirectory | Should -BeTrue
        $row.Source | Should -Be 'IMDS'
        $row.Identity | Should -Be 'aa-runbooks'
        $row.TokenIssuedAt | Should -Not -BeNullOrEmpty
        $row.CachedUntil | Should -Be $row.TokenExpiresAt
        $row.Reason | Should -Match 'granted in the directory, but the token issued .* predates the grant; IMDS may keep handing back its cached token until it expires at'
    }

    It 'on IMDS with -Refresh: the platform hands back its cached token, and the answer says until when' {
        Reset-EmulatorStats $Emulator
        $row = Test-IdentityPermission -Permission AuditLog.Read.All -Refresh -Context $Admin
        $row.Status | Should -Be 'NotYetInToken'
        $row.Reason | Should -Match 'a new token was asked for, and IMDS handed back its cached one: it may do so until the token expires at'
        (Get-EmulatorStats $Emulator).requests.imds | Should -BeGreaterThan 0 -Because '-Refresh bypasses the module''s cache'
        @((Get-EmulatorStats $Emulator).log | Where-Object { $_.query.token_sha256_to_refresh }).Count | Should -Be 0 -Because 'IMDS takes no refresh hash'
    }

    It 'on Azure Automation: NotYetInToken with the cache''s end time' {
        Set-IdentityEnvironment $Emulator 'Automation'
        $automation = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $row = Test-IdentityPermission -Permission AuditLog.Read.All -Refresh -Context $automation
        $row.Status | Should -Be 'NotYetInToken'
        $row.Source | Should -Be 'AzureAutomation'
        $row.CachedUntil | Should -Not -BeNullOrEmpty
    }

    It 'NotGranted for a role nobody granted, with the grant that fixes it' {
        $row = Test-IdentityPermission -Permission Mail.Send -Context $Admin
        $row.Status | Should -Be 'NotGranted'
        $row.InDirectory | Should -BeFalse
        $row.Reason | Should -Match "Grant-GraphAppRole -Identity $($System.objectId) -Permission Mail.Send"
    }

    It 'Present for a role in the token' {
        (Test-IdentityPermission -Permission Application.Read.All -Context $Admin).Status | Should -Be 'Present'
    }

    It 'Unknown when the identity may not read its own assignments' {
        Set-IdentityEnvironment $Emulator 'IMDS'
        $reports = Connect-Identity -Identity -ClientId $Reports.clientId -GraphEndpoint $GraphUrl
        $row = Test-IdentityPermission -Permission Mail.Send -Context $reports
        $row.Status | Should -Be 'Unknown'
        $row.Reason | Should -Match 'may not read its own app role assignments'
    }

    It 'refuses a name that is no Graph permission, suggesting close ones' {
        { Test-IdentityPermission -Permission AuditLogs.Read.All -Context $Admin -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.UnknownPermission,ManagedIdentity.Interop.Commands.TestIdentityPermissionCommand' -ExpectedMessage '*AuditLog.Read.All*'
    }

    It 'on App Service with -Refresh: the platform is asked to replace its token (SHA-256 of the old one), and the role is Present' {
        Set-IdentityEnvironment $Emulator 'AppService'
        $appService = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        (Test-IdentityPermission -Permission AuditLog.Read.All -Context $appService).Status | Should -Be 'NotYetInToken'
        Reset-EmulatorStats $Emulator
        $row = Test-IdentityPermission -Permission AuditLog.Read.All -Refresh -Context $appService
        $row.Status | Should -Be 'Present'
        $asked = @((Get-EmulatorStats $Emulator).log | Where-Object { $_.query.token_sha256_to_refresh })
        $asked.Count | Should -Be 1
        $asked[0].query.token_sha256_to_refresh | Should -Match '^[0-9a-f]{64}$'
        $asked[0].query.xms_cc | Should -Be 'cp1'
        # The runbook's next call uses the new token.
        (Test-IdentityPermission -Permission AuditLog.Read.All -Context $appService).Status | Should -Be 'Present'
    }

    It '-Wait succeeds once the grant has reached new tokens (after the emulator''s propagation delay)' {
        Set-IdentityEnvironment $Emulator 'AppService'
        Set-EmulatorConfig $Emulator @{ tokenRolesLagMs = 3000 }
        $appService = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $null = Grant-GraphAppRole -Identity $System.objectId -Permission Mail.Send -Context $appService -Confirm:$false -WarningAction SilentlyContinue
        Reset-EmulatorStats $Emulator
        $row = Test-IdentityPermission -Permission Mail.Send -Wait -TimeoutSec 60 -Context $appService
        $row.Status | Should -Be 'Present'
        @((Get-EmulatorStats $Emulator).log | Where-Object { $_.target -eq 'appservice' }).Count | Should -BeGreaterThan 1 -Because 'the first new token predates the propagation delay'
    }

    It '-Wait on a token given to Connect-Identity stops at once: nothing can renew it' {
        $context = Connect-AppToken -Roles 'Directory.Read.All'
        $e = Get-Refusal { Test-IdentityPermission -Permission AuditLog.Read.All -Wait -TimeoutSec 600 -Context $context }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.InvalidArgument,*'
        $e.Exception.Message | Should -Match 'cannot be renewed, so waiting cannot bring a new role into it'
    }

    It '-Wait stops with ManagedIdentity.Timeout at -TimeoutSec, saying what is still missing' {
        Set-IdentityEnvironment $Emulator 'AppService'
        Set-EmulatorConfig $Emulator @{ tokenRolesLagMs = 600000 }
        $appService = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $null = Grant-GraphAppRole -Identity $System.objectId -Permission User.Read.All -Context $appService -Confirm:$false -WarningAction SilentlyContinue
        try {
            $e = Get-Refusal { Test-IdentityPermission -Permission User.Read.All -Wait -TimeoutSec 3 -Context $appService }
        }
        finally {
            Set-EmulatorConfig $Emulator @{ tokenRolesLagMs = 0 }
            $null = Revoke-GraphAppRole -Identity $System.objectId -Permission User.Read.All -Context $appService -Confirm:$false -WarningAction SilentlyContinue
        }
        $e.FullyQualifiedErrorId | Should -BeLike 'ManagedIdentity.Timeout,*'
        $e.Exception.Message | Should -Match 'after 3 s, not every permission is in this identity''s token: User.Read.All is NotYetInToken'
        Assert-NoSecret ($e | Out-String -Width 4096)
    }
}
