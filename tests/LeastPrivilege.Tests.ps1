#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Least privilege, computed (issue 22), end to end through the built module: Find-GraphPermission
# against Microsoft's permission data, Get-RunbookPermission on the tutorial's scripts and three
# runbooks (tests/data/least-privilege), hostile scripts, and Test-RunbookPermission against the
# emulator's Graph (every grant checked in the emulator's own state).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator -ArgumentList @('--no-platform-token-cache')
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:GraphUrl = $Emulator.BaseUrl
    $script:Graph = $Seed.resources | Where-Object alias -EQ 'Graph'
    $script:Data = Join-Path $PSScriptRoot 'data/least-privilege'
    $script:Map = Join-Path $Data 'MgCommandMetadata.json'

    function Get-Writes { (Get-EmulatorStats $Emulator).requests.graphWrites }
    function Get-Held([string] $PrincipalId) {
        $names = @{}
        foreach ($role in $Graph.roles) { $names[$role.id] = $role.value }
        @(Invoke-Emulator $Emulator -Path '/_emulator/assignments' | ForEach-Object { $_ } |
                Where-Object principalId -EQ $PrincipalId | ForEach-Object { $names[$_.appRoleId] } | Sort-Object)
    }
    function New-Identity([string] $Prefix, [string[]] $Permission) {
        $id = @(Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 1; prefix = $Prefix } | ForEach-Object { $_ })[0].id
        if ($Permission) { $null = Grant-GraphAppRole -Identity $id -Permission $Permission -Confirm:$false }
        $id
    }
    # The application permissions a script needs, as Get-RunbookPermission lists them.
    function Get-Needed([string] $Name) {
        @(Get-RunbookPermission -Path (Join-Path $Data $Name) -CommandMetadataPath $Map | ForEach-Object Application | Sort-Object -Unique)
    }

    Set-IdentityEnvironment $Emulator 'IMDS'
    $null = Connect-Identity -Identity -GraphEndpoint $GraphUrl
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Find-GraphPermission' {
    It 'names Mail.Send for POST /users/{id}/sendMail, whatever the host, version, id and case' {
        foreach ($uri in 'https://graph.microsoft.com/v1.0/users/ops@contoso.com/sendMail', '/beta/USERS/2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c99/SendMail', 'users/x/sendmail') {
            $r = Find-GraphPermission -Method POST -Uri $uri
            $r.PSObject.TypeNames | Should -Contain 'ManagedIdentity.GraphPermission'
            $r.Application | Should -Be 'Mail.Send' -Because $uri
            $r.PathTemplate | Should -Be '/users/{id}/sendmail'
            $r.ApplicationSupported | Should -BeTrue
        }
    }

    It 'names AuditLog.Read.All for GET /auditLogs/signIns with a query string' {
        (Find-GraphPermission "https://graph.microsoft.com/v1.0/auditLogs/signIns?`$filter=status/errorCode ne 0&`$top=50").Application | Should -Be 'AuditLog.Read.All'
    }

    It 'orders every other permission that allows GET /applications by privilege' {
        $r = Find-GraphPermission -Uri /applications
        $r.Application[0] | Should -Be 'Application.Read.All'
        $r.Application | Should -Contain 'Application.ReadWrite.OwnedBy' -Because 'Microsoft marks both least privileged'
        $app = @($r.Permissions | Where-Object Scheme -EQ 'Application')
        $app[0].Permission | Should -Be 'Application.Read.All'
        $app[0].Least | Should -BeTrue
        ($app | Where-Object Permission -EQ 'Directory.Read.All').Least | Should -BeFalse
        $levels = @($app | Where-Object { -not $_.Least } | ForEach-Object PrivilegeLevel)
        $levels | Should -Be @($levels | Sort-Object) -Because 'least privileged first'
    }

    It 'names both roles of an app-role grant: Application.Read.All + AppRoleAssignment.ReadWrite.All (the tutorial''s two scopes)' {
        $r = Find-GraphPermission -Method POST -Uri "/v1.0/servicePrincipals/$([guid]::NewGuid())/appRoleAssignments"
        $r.Application | Should -Contain 'Application.Read.All + AppRoleAssignment.ReadWrite.All'
        $r.Delegated | Should -Contain 'Application.Read.All + AppRoleAssignment.ReadWrite.All'
    }

    It 'says explicitly that no application permission supports the Excel workbook API' {
        $r = Find-GraphPermission -Uri '/me/drive/items/01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K/workbook/worksheets'
        $r.ApplicationSupported | Should -BeFalse
        $r.Application | Should -BeNullOrEmpty
        $r.Delegated | Should -Be 'Files.ReadWrite'
        $r.Note | Should -Match 'No application permission supports this request'
        ($r | Format-List | Out-String) | Should -Match 'No application permission'
    }

    It 'matches key segments, functions and $value' {
        (Find-GraphPermission "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").ApplicationSupported | Should -BeTrue
        (Find-GraphPermission "/reports/getMailboxUsageDetail(period='D7')").Application | Should -Be 'Reports.Read.All'
        (Find-GraphPermission '/users/adele@contoso.com/photo/$value').ApplicationSupported | Should -BeTrue
    }

    It 'says when Microsoft''s data does not list a path' {
        $r = Find-GraphPermission -Uri '/noSuchResource/at/all'
        $r.PathTemplate | Should -BeNullOrEmpty
        $r.Note | Should -Match 'does not list'
    }

    It 'looks a Microsoft Graph PowerShell command up in the command map, one result per variant' {
        $rows = @(Find-GraphPermission -Command Get-MgUser -CommandMetadataPath $Map)
        $rows.Count | Should -Be 2
        $rows.Command | Select-Object -Unique | Should -Be 'Get-MgUser'
        foreach ($row in $rows) { $row.Application | Should -Contain 'User.ReadBasic.All' }
        { Find-GraphPermission -Command Get-MgUser -CommandMetadataPath (Join-Path $TestDrive 'missing.json') } | Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.FindGraphPermissionCommand'
        { Find-GraphPermission -Command Get-MgNothing -CommandMetadataPath $Map } | Should -Throw -ErrorId 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.FindGraphPermissionCommand'
    }
}

Describe 'Get-RunbookPermission' {
    It 'the tutorial''s grant script needs Application.Read.All + AppRoleAssignment.ReadWrite.All (its delegated scopes)' {
        $rows = @(Get-RunbookPermission -Path (Join-Path $Data 'seed-grant.ps1') -CommandMetadataPath $Map)
        $rows.Count | Should -Be 2
        $rows[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.RunbookCall'
        ($rows | Where-Object Command -EQ 'Get-MgServicePrincipal').Line | Should -Be 9
        ($rows | Where-Object Command -EQ 'New-MgServicePrincipalAppRoleAssignment').PathTemplate | Should -Be '/serviceprincipals/{id}/approleassignments'
        @($rows.Application | Sort-Object -Unique) | Should -Be @('Application.Read.All', 'AppRoleAssignment.ReadWrite.All')
        @($rows.Delegated | Sort-Object -Unique) | Should -Be @('Application.Read.All', 'AppRoleAssignment.ReadWrite.All')
    }

    It 'the tutorial''s runbook needs exactly Mail.Send, AuditLog.Read.All and Application.Read.All' {
        $rows = @(Get-RunbookPermission -Path (Join-Path $Data 'seed-runbook.ps1') -CommandMetadataPath $Map)
        @($rows.Status | Select-Object -Unique) | Should -Be 'Resolved'
        @($rows | ForEach-Object { '{0} {1} {2}' -f $_.Line, $_.Method, $_.PathTemplate }) | Should -Be @(
            '12 GET /auditlogs/signins', '13 GET /applications', '28 POST /users/{id}/sendmail')
        Get-Needed 'seed-runbook.ps1' | Should -Be @('Application.Read.All', 'AuditLog.Read.All', 'Mail.Send')
    }

    It 'the mail report (Invoke-GraphApiRequest) needs Reports.Read.All, User.ReadBasic.All and Mail.Send' {
        Get-Needed 'mail-report.ps1' | Should -Be @('Mail.Send', 'Reports.Read.All', 'User.ReadBasic.All')
    }

    It 'the sign-in audit (Invoke-RestMethod) needs AuditLog.Read.All, User.ReadBasic.All and UserAuthenticationMethod.Read.All, and reports the next-link call it cannot resolve' {
        $rows = @(Get-RunbookPermission -Path (Join-Path $Data 'signin-audit.ps1'))
        @($rows | ForEach-Object Application | Sort-Object -Unique) | Should -Be @('AuditLog.Read.All', 'User.ReadBasic.All', 'UserAuthenticationMethod.Read.All')
        $unresolved = @($rows | Where-Object Status -EQ 'Unresolved')
        $unresolved.Count | Should -Be 1
        $unresolved[0].Line | Should -Be 23
        $unresolved[0].Note | Should -Match 'could not be resolved'
        $rows.Command | Should -Not -Contain 'Invoke-RestMethod https://contoso.webhook.office.com' -Because 'the webhook is not a Graph call'
        @($rows).Count | Should -Be 4
    }

    It 'the app inventory (Invoke-MgGraphRequest, splatting, positional) needs Application.Read.All; its workbook call has no application permission' {
        $rows = @(Get-RunbookPermission -Path (Join-Path $Data 'app-inventory.ps1'))
        @($rows | Where-Object Status -EQ 'Resolved' | ForEach-Object Application | Sort-Object -Unique) | Should -Be @('Application.Read.All')
        $workbook = @($rows | Where-Object Status -EQ 'NoApplicationPermission')
        $workbook.Count | Should -Be 1
        $workbook[0].Line | Should -Be 32
        $workbook[0].Application | Should -BeNullOrEmpty
        $workbook[0].Delegated | Should -Be 'Files.ReadWrite'
        $workbook[0].Note | Should -Match 'no application permission'
    }

    It 'reports a call whose URI cannot be resolved, never drops it' {
        $rows = @(Get-RunbookPermission -ScriptBlock {
                param($Uri)
                Invoke-GraphApiRequest -Uri $Uri
                Invoke-MgGraphRequest -Method $Verb -Uri '/users'
            })
        $rows.Count | Should -Be 2
        @($rows.Status | Select-Object -Unique) | Should -Be 'Unresolved'
        $rows[0].File | Should -Be $PSCommandPath -Because 'a script block defined in a file keeps its file and lines'
        $rows[0].Line | Should -Be ($rows[1].Line - 1)
        (Get-RunbookPermission -ScriptBlock ([scriptblock]::Create('Invoke-GraphApiRequest /applications'))).File | Should -Be '<ScriptBlock>'
        $rows[0].Note | Should -Match 'could not be resolved'
        $rows[1].Note | Should -Match 'method'
    }

    It 'makes Mg call sites rows that say the command map is missing when no Microsoft.Graph.Authentication is installed' {
        $saved = $env:PSModulePath
        try {
            $env:PSModulePath = Join-Path $TestDrive 'no-modules'
            $rows = @(Get-RunbookPermission -Path (Join-Path $Data 'seed-runbook.ps1'))
        }
        finally { $env:PSModulePath = $saved }
        $rows.Count | Should -Be 3
        @($rows.Status | Select-Object -Unique) | Should -Be 'CommandMapMissing'
        $rows[0].Note | Should -Match 'MgCommandMetadata.json'
    }

    It 'takes files from the pipeline (Get-ChildItem)' {
        $rows = @(Get-ChildItem (Join-Path $Data '*.ps1') | Get-RunbookPermission -CommandMetadataPath $Map)
        @($rows.File | Select-Object -Unique).Count | Should -Be 5
    }
}

Describe 'Hostile scripts' {
    It 'refuses a script with syntax errors with ManagedIdentity.ScriptParseError naming the line' {
        $path = Join-Path $TestDrive 'broken.ps1'
        Set-Content $path "Invoke-GraphApiRequest -Uri '/users'`nfunction f( {`n"
        { Get-RunbookPermission -Path $path } | Should -Throw -ErrorId 'ManagedIdentity.ScriptParseError,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand' -ExpectedMessage '*line 2*'
    }

    It 'refuses a huge file at once (ManagedIdentity.ScriptTooLarge)' {
        $path = Join-Path $TestDrive 'huge.ps1'
        $line = "Invoke-GraphApiRequest -Uri '/users/x'`n"
        [IO.File]::WriteAllText($path, ($line * 120000))
        $elapsed = Measure-Command { { Get-RunbookPermission -Path $path } | Should -Throw -ErrorId 'ManagedIdentity.ScriptTooLarge,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand' }
        $elapsed.TotalSeconds | Should -BeLessThan 5
    }

    It 'refuses deep nesting before the parser sees it (ManagedIdentity.ScriptTooDeep), quickly' {
        $path = Join-Path $TestDrive 'deep.ps1'
        [IO.File]::WriteAllText($path, ('(' * 50000) + '1' + (')' * 50000))
        $elapsed = Measure-Command { { Get-RunbookPermission -Path $path } | Should -Throw -ErrorId 'ManagedIdentity.ScriptTooDeep,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand' }
        $elapsed.TotalSeconds | Should -BeLessThan 5
        [IO.File]::WriteAllText($path, ('{' * 3000) + ('}' * 3000))
        { Get-RunbookPermission -Path $path } | Should -Throw -ErrorId 'ManagedIdentity.ScriptTooDeep,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand'
    }

    It 'cannot be fooled into hiding deep nesting: <Case>' -ForEach @(
        @{ Case = 'a here-string holding a quote'; Prefix = "`$x = @`"`na `" b`n`"@`n" }
        @{ Case = 'a # inside a word'; Prefix = "Write-Output a#b " }
        @{ Case = 'a string closed by a smart quote'; Prefix = "`$x = `"abc$([char]0x201D) " }
        @{ Case = 'a single-quoted here-string'; Prefix = "`$x = @'`nit's`n'@`n" }
    ) {
        $path = Join-Path $TestDrive 'tricky.ps1'
        [IO.File]::WriteAllText($path, $Prefix + ('(' * 20000) + '1' + (')' * 20000))
        { Get-RunbookPermission -Path $path } | Should -Throw -ErrorId 'ManagedIdentity.ScriptTooDeep,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand'
    }

    It 'does not count brackets inside strings and comments' {
        $text = "# (((((`n<# ((((( #>`n`$h = @`"`n(((((( `$(1) `"`n`"@`n`$s = @'`n(((((`n'@`n" + ("'((((('`n" * 200) + ("`"((((`$(2)(`"`n" * 50) + "Invoke-GraphApiRequest -Uri `"/users/`$(`$u.Id)/sendMail`" -Method POST`n"
        $rows = @(Get-RunbookPermission -ScriptBlock ([scriptblock]::Create($text)))
        $rows.Application | Should -Be 'Mail.Send'
        $path = Join-Path $TestDrive 'strings.ps1'
        Set-Content $path $text
        (Get-RunbookPermission -Path $path).Application | Should -Be 'Mail.Send'
    }

    It 'refuses a missing file with ManagedIdentity.NotFound' {
        Get-RunbookPermission -Path (Join-Path $TestDrive 'nope.ps1') -ErrorVariable errors -ErrorAction SilentlyContinue
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.GetRunbookPermissionCommand'
    }
}

Describe 'Test-RunbookPermission' {
    BeforeAll {
        $script:Runbook = Join-Path $Data 'seed-runbook.ps1'
        $script:Three = 'Application.Read.All', 'AuditLog.Read.All', 'Mail.Send'
    }

    It 'reports Directory.ReadWrite.All held on top as Excess and Critical, the three as Satisfied' {
        $id = New-Identity 'lp-excess' ($Three + 'Directory.ReadWrite.All')
        $rows = @(Test-RunbookPermission -Path $Runbook -Identity $id -CommandMetadataPath $Map)
        $rows[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.RunbookPermission'
        $excess = @($rows | Where-Object Status -EQ 'Excess')
        $excess.Count | Should -Be 1
        $excess[0].Name | Should -Be 'Directory.ReadWrite.All'
        $excess[0].RiskLevel | Should -Be 'Critical'
        $excess[0].IdentityId | Should -Be $id
        @($rows | Where-Object Status -EQ 'Satisfied' | ForEach-Object Name | Sort-Object) | Should -Be $Three
        ($rows | Where-Object Name -EQ 'Mail.Send').CallSites | Should -Be 'seed-runbook.ps1:28 POST /users/{user-id}/sendMail'
    }

    It 'pipes into Set-GraphAppRole: -WhatIf shows the fix and writes nothing; then the identity holds exactly the least set' {
        $id = New-Identity 'lp-set' ($Three + 'Directory.ReadWrite.All')
        $writes = Get-Writes
        $preview = @(Test-RunbookPermission -Path $Runbook -Identity $id -CommandMetadataPath $Map | Set-GraphAppRole -WhatIf)
        ($preview | Where-Object Status -EQ 'WouldRevoke').Permission | Should -Be 'Directory.ReadWrite.All'
        @($preview | Where-Object Status -EQ 'AlreadyGranted' | ForEach-Object Permission | Sort-Object) | Should -Be $Three
        Get-Writes | Should -Be $writes
        $null = Test-RunbookPermission -Path $Runbook -Identity $id -CommandMetadataPath $Map | Set-GraphAppRole -Confirm:$false
        Get-Held $id | Should -Be $Three
    }

    It 'reports Missing for an identity that holds nothing, and Grant-GraphAppRole grants exactly those' {
        $id = New-Identity 'lp-missing'
        $rows = @(Test-RunbookPermission -Path $Runbook -Identity $id -CommandMetadataPath $Map)
        @($rows.Status | Select-Object -Unique) | Should -Be 'Missing'
        @($rows.Name | Sort-Object) | Should -Be $Three
        $granted = @($rows | Grant-GraphAppRole -Confirm:$false)
        @($granted.Status | Select-Object -Unique) | Should -Be 'Granted'
        Get-Held $id | Should -Be $Three
    }

    It 'reports Broader when only a more privileged permission covers a call, and says which to grant instead' {
        $id = New-Identity 'lp-broad' @('Mail.Send', 'AuditLog.Read.All', 'Directory.Read.All')
        $rows = @(Test-RunbookPermission -Path $Runbook -Identity $id -CommandMetadataPath $Map)
        $broader = @($rows | Where-Object Status -EQ 'Broader')
        $broader.Count | Should -Be 1
        $broader[0].Name | Should -Be 'Application.Read.All'
        $broader[0].InsteadOf | Should -Be 'Directory.Read.All'
        $broader[0].Reason | Should -Match 'more privileged'
        $rows.Status | Should -Not -Contain 'Excess' -Because 'Directory.Read.All is what covers the call today'
        $null = $rows | Set-GraphAppRole -Confirm:$false
        Get-Held $id | Should -Be $Three
    }

    It 'reports the workbook call as NotSupported and an unresolvable call as Unresolved' {
        $id = New-Identity 'lp-inventory' @('Application.Read.All')
        $rows = @(Test-RunbookPermission -Path (Join-Path $Data 'app-inventory.ps1') -Identity $id)
        ($rows | Where-Object Status -EQ 'NotSupported').Reason | Should -Match 'no application permission supports this request \(only Files.ReadWrite\)'
        ($rows | Where-Object Status -EQ 'Satisfied').Name | Should -Be 'Application.Read.All'
        $rows = @(Test-RunbookPermission -ScriptBlock { param($u) Invoke-GraphApiRequest -Uri $u } -Identity $id)
        $rows.Status | Should -Contain 'Unresolved'
        ($rows | Where-Object Status -EQ 'Excess').Name | Should -Be 'Application.Read.All'
    }

    It 'reads the current context''s identity when -Identity is not given' {
        $system = $Seed.identities | Where-Object displayName -EQ 'aa-runbooks'
        $rows = @(Test-RunbookPermission -Path (Join-Path $Data 'seed-grant.ps1') -CommandMetadataPath $Map)
        @($rows.IdentityId | Select-Object -Unique) | Should -Be $system.objectId
        @($rows | Where-Object Status -EQ 'Satisfied' | ForEach-Object Name | Sort-Object) | Should -Be @('Application.Read.All', 'AppRoleAssignment.ReadWrite.All')
    }
}

Describe 'Test-RunbookPermission -Scheme Delegated' {
    It 'compares with the delegated scopes of a user''s sign-in' {
        $b64 = { param($t) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($t)).TrimEnd('=').Replace('+', '-').Replace('/', '_') }
        $claims = @{ aud = 'https://graph.microsoft.com'; tid = $Seed.tenantId; scp = 'Mail.Send AuditLog.Read.All User.Read.All'; upn = 'admin@contoso.example'; exp = [DateTimeOffset]::UtcNow.AddHours(1).ToUnixTimeSeconds() }
        $token = "$(& $b64 '{"alg":"none"}').$(& $b64 ($claims | ConvertTo-Json -Compress)).c2ln"
        try {
            $user = Connect-Identity -AccessToken (ConvertTo-SecureString $token -AsPlainText -Force) -GraphEndpoint $GraphUrl -WarningAction SilentlyContinue
            $rows = @(Test-RunbookPermission -Path (Join-Path $Data 'seed-runbook.ps1') -Scheme Delegated -CommandMetadataPath $Map -Context $user)
        }
        finally { $null = Connect-Identity -Identity -GraphEndpoint $GraphUrl }
        @($rows.Scheme | Select-Object -Unique) | Should -Be 'DelegatedWork'
        ($rows | Where-Object Status -EQ 'Missing').Name | Should -Be 'Application.Read.All'
        @($rows | Where-Object Status -EQ 'Satisfied' | ForEach-Object Name | Sort-Object) | Should -Be @('AuditLog.Read.All', 'Mail.Send')
        ($rows | Where-Object Status -EQ 'Excess').Name | Should -Be 'User.Read.All'
        $rows.IdentityId | Where-Object { $_ } | Should -BeNullOrEmpty -Because 'delegated scopes are not app roles to pipe into Set-GraphAppRole'
        $rows.Identity | Select-Object -Unique | Should -Be 'admin@contoso.example'
    }
}

Describe 'A grant to an identity Graph does not know yet' {
    It 'says a GUID may still be replicating, and how to wait, failing at once' {
        $unknown = [guid]::NewGuid().ToString()
        $elapsed = Measure-Command {
            Grant-GraphAppRole -Identity $unknown -Permission Mail.Send -Confirm:$false -ErrorVariable errors -ErrorAction SilentlyContinue
        }
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        $errors[0].Exception.Message | Should -Match "No service principal has the object id or appId '$unknown'"
        $errors[0].Exception.Message | Should -Match 'may still be replicating'
        $errors[0].Exception.Message | Should -Match 'retry'
        $elapsed.TotalSeconds | Should -BeLessThan 10 -Because 'an identity not marked new fails at once'
        Grant-GraphAppRole -Identity 'no-such-name' -Permission Mail.Send -Confirm:$false -ErrorVariable named -ErrorAction SilentlyContinue
        $named[0].Exception.Message | Should -Not -Match 'replicating' -Because 'only a GUID can be a principal created moments ago'
    }
}
