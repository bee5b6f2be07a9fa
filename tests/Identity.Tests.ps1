#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Managed-identity connect/token/context on the built module against the emulator.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:System = $Seed.identities | Where-Object displayName -EQ 'aa-runbooks'
    $script:Reports = $Seed.identities | Where-Object displayName -EQ 'uami-reports'
    $script:Empty = $Seed.identities | Where-Object displayName -EQ 'uami-empty'
    $script:Detached = $Seed.identities | Where-Object displayName -EQ 'uami-elsewhere'
    $script:GraphUrl = $Emulator.BaseUrl
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Connect-Identity -Identity through <Source>' -ForEach @(
    @{ Source = 'IMDS'; Target = 'imds'; Expected = 'IMDS'; Transient = @(@{ Status = 410 }, @{ Status = 429 }, @{ Status = 500 }, @{ Status = 503 }) }
    @{ Source = 'AppService'; Target = 'appservice'; Expected = 'AppService'; Transient = @(@{ Status = 429 }, @{ Status = 500 }, @{ Status = 503 }) }
    @{ Source = 'Automation'; Target = 'automation'; Expected = 'AzureAutomation'; Transient = @(@{ Status = 429 }, @{ Status = 503 }, @{ Status = 504 }) }
) {
    BeforeAll {
        Set-IdentityEnvironment $Emulator $Source
    }

    It 'connects the system-assigned identity and shows its roles' {
        $context = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $context.PSObject.TypeNames | Should -Contain 'ManagedIdentity.Context'
        $context.Source | Should -Be $Expected
        $context.AuthType | Should -Be 'ManagedIdentity'
        $context.ObjectId | Should -Be $System.objectId
        $context.ClientId | Should -Be $System.clientId
        $context.Roles | Should -Contain 'AppRoleAssignment.ReadWrite.All'
        $context.Roles | Should -Contain 'Application.Read.All'
        $context.ExpiresOn | Should -BeOfType [datetimeoffset]
        (Get-IdentityContext).ObjectId | Should -Be $System.objectId
    }

    It 'connects the user-assigned identity by <Kind>' -ForEach @(
        @{ Kind = 'ClientId'; Property = 'clientId'; Wire = 'client_id' }
        @{ Kind = 'ObjectId'; Property = 'objectId'; Wire = 'object_id' }
        @{ Kind = 'ResourceId'; Property = 'resourceId'; Wire = $null }
    ) {
        Reset-EmulatorStats $Emulator
        $parameters = @{ Identity = $true; GraphEndpoint = $GraphUrl; $Kind = $Reports.$Property }
        $context = Connect-Identity @parameters
        $context.ObjectId | Should -Be $Reports.objectId
        $context.ResourceId | Should -Be $Reports.resourceId
        $context.Roles | Should -Contain 'User.Read.All'
        $context.IdentityType | Should -Be 'UserAssigned'
        $log = @((Get-EmulatorStats $Emulator).log | Where-Object target -EQ $Target)
        if ($log.Count -gt 0) {
            # First connect for this identity through this source: check the wire parameter name.
            $expectedWire = $Wire
            if (-not $expectedWire) { $expectedWire = if ($Source -eq 'IMDS') { 'msi_res_id' } else { 'mi_res_id' } }
            $log[0].query.PSObject.Properties.Name | Should -Contain $expectedWire
        }
    }

    It 'gets tokens as SecureString by default and as text with -AsPlainText' {
        Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
        Get-IdentityToken | Should -BeOfType [securestring]
        $text = Get-IdentityToken -AsPlainText
        $text | Should -BeOfType [string]
        $text.Split('.').Count | Should -Be 3
    }

    It 'serves a second token from the cache without a request' {
        Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
        $null = Get-IdentityToken -Resource 'https://vault.azure.net'
        $before = (Get-EmulatorStats $Emulator).requests.$Target
        $null = Get-IdentityToken -Resource 'https://vault.azure.net/.default'
        $null = Get-IdentityToken -Resource 'https://vault.azure.net'
        (Get-EmulatorStats $Emulator).requests.$Target | Should -Be $before
        $null = Get-IdentityToken -Resource 'https://vault.azure.net' -ForceRefresh
        (Get-EmulatorStats $Emulator).requests.$Target | Should -Be ($before + 1)
    }

    It 'warns when the token carries no roles' {
        $warnings = $null
        $context = Connect-Identity -Identity -ClientId $Empty.clientId -GraphEndpoint $GraphUrl -WarningVariable warnings -WarningAction SilentlyContinue
        $context.Roles.Count | Should -Be 0
        $null = Get-IdentityContext -WarningVariable warnings -WarningAction SilentlyContinue
        ($warnings -join ' ') | Should -Match 'no (application )?roles'
        ($warnings -join ' ') | Should -Match '24 hours'
    }

    It 'reports an identity that is not assigned here as IdentityNotFound' {
        { Connect-Identity -Identity -ClientId $Detached.clientId -GraphEndpoint $GraphUrl } |
            Should -Throw -ErrorId 'ManagedIdentity.IdentityNotFound,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $err = $null
        try { Connect-Identity -Identity -ClientId $Detached.clientId -GraphEndpoint $GraphUrl } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match ([regex]::Escape($Detached.clientId))
    }

    It 'accepts the object id passed to -ClientId, with a warning naming -ObjectId' {
        $warnings = $null
        $context = Connect-Identity -Identity -ClientId $Reports.objectId -GraphEndpoint $GraphUrl -WarningVariable warnings -WarningAction SilentlyContinue
        $context.ObjectId | Should -Be $Reports.objectId
        ($warnings -join ' ') | Should -Match '-ObjectId'
    }

    It 'recovers from <Status> then succeeds' -ForEach $Transient {
        Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
        Add-EmulatorFault $Emulator @{ target = $Target; kind = 'status'; status = $Status; retryAfter = '0'; count = 1 }
        Reset-EmulatorStats $Emulator
        Get-IdentityToken -ForceRefresh | Should -BeOfType [securestring]
        (Get-EmulatorStats $Emulator).requests.$Target | Should -Be 2
    }

    It 'turns a <Kind> into a clear error and pwsh lives on' -ForEach @(
        @{ Kind = 'reset'; ErrorId = 'ManagedIdentity.ConnectionFailed' }
        @{ Kind = 'garbage'; ErrorId = 'ManagedIdentity.InvalidResponse' }
        @{ Kind = 'hang'; ErrorId = 'ManagedIdentity.Timeout' }
    ) {
        Clear-EmulatorFaults $Emulator
        Add-EmulatorFault $Emulator @{ target = $Target; kind = $Kind; count = 50; hangMs = 30000 }
        try {
            { Connect-Identity -Identity -ClientId $Reports.clientId -GraphEndpoint $GraphUrl -TimeoutSec 2 | Out-Null; Get-IdentityToken -ForceRefresh -Resource 'https://storage.azure.com' } |
                Should -Throw -ErrorId "$ErrorId,*"
        }
        finally { Clear-EmulatorFaults $Emulator }
        Get-IdentityToken -ForceRefresh | Should -BeOfType [securestring]
    }
}

Describe 'Without any managed-identity endpoint' {
    BeforeAll { Set-IdentityEnvironment $Emulator 'None' }

    It 'fails with EndpointUnavailable, distinct from IdentityNotFound' {
        { Connect-Identity -Identity -GraphEndpoint $GraphUrl -TimeoutSec 5 } | Should -Throw -ErrorId 'ManagedIdentity.EndpointUnavailable,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }

    It 'Test-IdentityEndpoint explains every source' {
        $rows = @(Test-IdentityEndpoint)
        $rows.Count | Should -BeGreaterOrEqual 6
        ($rows | Where-Object Source -EQ 'IMDS').Available | Should -BeFalse
        ($rows | Where-Object Source -Match 'AppService|Automation').Reason | Should -Match 'IDENTITY_ENDPOINT'
        @($rows | Where-Object Selected).Count | Should -BeLessOrEqual 1
    }
}

Describe 'Test-IdentityEndpoint on an Automation sandbox' {
    It 'selects Azure Automation and finds IMDS unavailable' {
        Set-IdentityEnvironment $Emulator 'Automation'
        $rows = @(Test-IdentityEndpoint)
        ($rows | Where-Object Selected).Source | Should -Match 'Automation|AppService'
        ($rows | Where-Object { $_.Source -match 'Automation|AppService' }).Detected | Should -BeTrue
    }
}

Describe 'Connect-Identity -AccessToken and endpoint validation' {
    BeforeAll { Set-IdentityEnvironment $Emulator 'None' }

    It 'connects with a token from elsewhere and reads its claims' {
        $issued = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/token' -Body @{ objectId = $Reports.objectId; resource = 'https://graph.microsoft.com' }
        $secure = ConvertTo-SecureString $issued.access_token -AsPlainText -Force
        $context = Connect-Identity -AccessToken $secure -GraphEndpoint $GraphUrl
        $context.AuthType | Should -Be 'AccessToken'
        $context.ObjectId | Should -Be $Reports.objectId
        $context.Roles | Should -Contain 'User.Read.All'
        Get-IdentityToken -AsPlainText | Should -Be $issued.access_token
    }

    It 'returns a non-ASCII static token exactly as given' {
        $text = "opaque-t$([char]0xF6)ken-$([char]0x20AC)-$([char]0x4E2D)"
        $null = Connect-Identity -AccessToken (ConvertTo-SecureString $text -AsPlainText -Force) -GraphEndpoint $GraphUrl -WarningAction SilentlyContinue
        Get-IdentityToken -AsPlainText | Should -BeExactly $text
        [System.Net.NetworkCredential]::new('', (Get-IdentityToken)).Password | Should -BeExactly $text
    }

    It 'refuses plain http to a non-loopback Graph endpoint' {
        Set-IdentityEnvironment $Emulator 'IMDS'
        { Connect-Identity -Identity -GraphEndpoint 'http://graph.example.com' } | Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }

    It 'rejects a malformed GUID with InvalidArgument' {
        Set-IdentityEnvironment $Emulator 'IMDS'
        { Connect-Identity -Identity -ClientId 'not-a-guid' -GraphEndpoint $GraphUrl } | Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }
}

Describe 'Contexts are per runspace' {
    It 'a new runspace does not inherit the current context' {
        Set-IdentityEnvironment $Emulator 'IMDS'
        Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
        $modulePath = Get-TestModulePath
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        try {
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript("Import-Module '$modulePath'; [bool](Get-IdentityContext)")
            $ps.Invoke() | Should -Be $false
            $ps.Dispose()
        }
        finally { $runspace.Dispose() }
        Get-IdentityContext | Should -Not -BeNullOrEmpty
        Disconnect-Identity
        Get-IdentityContext | Should -BeNullOrEmpty
    }
}

Describe 'Secrets never reach any stream' {
    It 'no token or IDENTITY_HEADER value appears with -Verbose -Debug, even on errors' {
        Set-IdentityEnvironment $Emulator 'AppService'
        $output = & {
            Connect-Identity -Identity -GraphEndpoint $GraphUrl -Verbose -Debug
            Get-IdentityContext -Verbose -Debug
            Get-IdentityToken -ForceRefresh -Verbose -Debug | Out-Null
            Test-IdentityEndpoint -Verbose -Debug
            try { Connect-Identity -Identity -ClientId $Detached.clientId -GraphEndpoint $GraphUrl -Verbose -Debug } catch { $_ }
        } *>&1 | Out-String -Width 4096
        $token = Get-IdentityToken -AsPlainText
        $output | Should -Not -BeNullOrEmpty
        $output | Should -Not -Match ([regex]::Escape($token))
        $output | Should -Not -Match ([regex]::Escape($Emulator.IdentityHeader))
        $output | Should -Not -Match 'eyJ[A-Za-z0-9_-]{10,}\.'
    }
}

Describe 'In fresh pwsh processes' {
    BeforeAll { Set-IdentityEnvironment $Emulator 'Automation' }

    It 'works after dot-sourcing ManagedIdentity.ps1' {
        $entry = Join-Path (Get-TestModulePath) 'ManagedIdentity.ps1'
        $out = Invoke-FreshPwsh @"
. '$entry'
`$c = Connect-Identity -Identity -GraphEndpoint '$GraphUrl'
"roles=" + (`$c.Roles -join ',')
"module=" + [bool](Get-Module ManagedIdentity)
"@
        $out | Should -Contain 'module=False'
        ($out | Where-Object { $_ -like 'roles=*' }) | Should -Match 'AppRoleAssignment.ReadWrite.All'
    }

    It 'a panic in the engine becomes a typed error and pwsh lives on' {
        # Straight through the exported native entry points: the cmdlets offer no diagnostics operation.
        $module = Get-TestModulePath
        # The diagnostics.* hooks answer only in an engine started with this variable (issue 8.10);
        # the fresh process inherits it from this one's environment block.
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        try {
            $out = Invoke-FreshPwsh @"
Import-Module '$module'
[ManagedIdentity.Interop.NativeLoader]::Initialize('$module')
`$request = [Text.Encoding]::UTF8.GetBytes('{"op":"diagnostics.panic","args":{}}')
[uint64] `$id = 0
'start=' + [ManagedIdentity.Interop.NativeMethods]::mi_operation_start(`$request, [byte[]]@(), [ref] `$id)
`$buffer = [byte[]]::new(65536)
[uint64] `$length = 0
while ([ManagedIdentity.Interop.NativeMethods]::mi_operation_poll(`$id, 200, `$buffer, [ref] `$length) -eq 'Pending') { }
`$chunk = [ManagedIdentity.Interop.Json]::Parse([Text.Encoding]::UTF8.GetString(`$buffer, 0, `$length))
'error=' + `$chunk.error.errorId
`$null = [ManagedIdentity.Interop.NativeMethods]::mi_operation_release(`$id)
'alive=' + (1 + 1)
"@
        }
        finally { Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS -ErrorAction SilentlyContinue }
        $out | Should -Contain 'start=Ok'
        $out | Should -Contain 'alive=2'
        $out | Should -Contain 'error=ManagedIdentity.Internal'
        ($out -join "`n") | Should -Not -Match 'panicked at'
    }

    It 'a normal engine refuses the diagnostics test hooks with a typed error' -ForEach @(
        @{ Op = 'diagnostics.panic' }, @{ Op = 'diagnostics.sleep' }
    ) {
        $module = Get-TestModulePath
        Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS -ErrorAction SilentlyContinue
        $out = Invoke-FreshPwsh @"
Import-Module '$module'
[ManagedIdentity.Interop.NativeLoader]::Initialize('$module')
`$request = [Text.Encoding]::UTF8.GetBytes('{"op":"$Op","args":{"ms":60000}}')
[uint64] `$id = 0
`$null = [ManagedIdentity.Interop.NativeMethods]::mi_operation_start(`$request, [byte[]]@(), [ref] `$id)
`$buffer = [byte[]]::new(65536)
[uint64] `$length = 0
`$deadline = [DateTime]::UtcNow.AddSeconds(30)
while ([ManagedIdentity.Interop.NativeMethods]::mi_operation_poll(`$id, 200, `$buffer, [ref] `$length) -eq 'Pending' -and [DateTime]::UtcNow -lt `$deadline) { }
`$chunk = [ManagedIdentity.Interop.Json]::Parse([Text.Encoding]::UTF8.GetString(`$buffer, 0, `$length))
if (`$chunk.error) { 'error=' + `$chunk.error.errorId; 'message=' + `$chunk.error.message } else { 'ran' }
`$null = [ManagedIdentity.Interop.NativeMethods]::mi_operation_release(`$id)
"@
        $out | Should -Not -Contain 'ran'
        ($out | Where-Object { $_ -like 'error=*' }) | Should -Match 'ManagedIdentity.InvalidArgument'
        ($out | Where-Object { $_ -like 'message=*' }) | Should -Match 'test hook'
    }

    It 'ForEach-Object -Parallel with 8 runspaces makes one endpoint request' {
        if (Test-DesktopEdition) { Set-ItResult -Skipped -Because 'ForEach-Object -Parallel needs PowerShell 7 (the fresh process is Windows PowerShell 5.1 here)' }
        # Unique resource: nothing cached for it anywhere yet.
        Reset-EmulatorStats $Emulator
        $module = Get-TestModulePath
        $out = Invoke-FreshPwsh @"
`$results = 1..8 | ForEach-Object -ThrottleLimit 8 -Parallel {
    Import-Module '$module'
    `$null = Connect-Identity -Identity -GraphEndpoint '$GraphUrl' -Resource 'https://parallel.blob.core.windows.net'
    (Get-IdentityToken -AsPlainText).Length -gt 0
}
'ok=' + @(`$results | Where-Object { `$_ }).Count
"@
        $out | Should -Contain 'ok=8'
        (Get-EmulatorStats $Emulator).requests.automation | Should -Be 1
    }

    It 'Ctrl+C (StopProcessing) stops a hanging connect within a second' {
        Add-EmulatorFault $Emulator @{ target = 'automation'; kind = 'hang'; count = 5; hangMs = 60000 }
        try {
            $module = Get-TestModulePath
            $ps = [powershell]::Create()
            $null = $ps.AddScript("Import-Module '$module'; Connect-Identity -Identity -ClientId '$($Empty.clientId)' -GraphEndpoint '$GraphUrl' -Resource 'https://stop.example.com' -TimeoutSec 120")
            $async = $ps.BeginInvoke()
            Start-Sleep -Milliseconds 1500
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 1.5
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $ps.Dispose()
        }
        finally { Clear-EmulatorFaults $Emulator }
    }
}
