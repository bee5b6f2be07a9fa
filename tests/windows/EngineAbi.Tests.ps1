#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 23 item 2: the packaged win-x64 engine loaded as Windows loads it, by a small Windows C
# program (tests/windows/native/engine_abi.c: LoadLibraryW of runtimes\win-x64\native\
# managedidentity_engine.dll, then the C ABI the interop uses), without .NET in between:
# the ABI version, managed-identity tokens on the Automation, App Service, IMDS and Arc hosts (Arc
# with its key file in C:\ProgramData\AzureConnectedMachineAgent\Tokens), the Arc key-file
# attacks refused with Windows paths, a client-secret sign-in, a bulk Graph grant under injected
# faults (every item once, typed errors, nothing lost), and a panic that stays inside the engine. The Windows leg builds the program (MinGW-w64) and names it in
# MANAGEDIDENTITY_TEST_ABI_PROGRAM; tagged AbiProgram, so a Windows run without it leaves it out.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1') -Force
    $script:Program = $env:MANAGEDIDENTITY_TEST_ABI_PROGRAM
    if (-not $Program -or -not (Test-Path -LiteralPath $Program)) { throw "MANAGEDIDENTITY_TEST_ABI_PROGRAM names no program ('$Program'): build.ps1's Windows leg builds it." }
    $script:Dll = Join-Path (Get-TestModulePath) 'runtimes\win-x64\native\managedidentity_engine.dll'
    $ffi = Get-Content -Raw (Join-Path (Split-Path (Split-Path $PSScriptRoot -Parent) -Parent) 'rust/ffi/src/lib.rs')
    $script:AbiVersion = [int]([regex]::Match($ffi, 'ABI_VERSION: u32 = (\d+)').Groups[1].Value)
    $script:Tokens = Join-Path $env:ProgramData 'AzureConnectedMachineAgent\Tokens'
    $script:Emulator = Start-TestEmulator -ArgumentList @('--arc-token-dir', $Tokens)
    $script:Base = $Emulator.BaseUrl
    $script:Hosts = (Get-EmulatorInfo $Emulator).hosts
    $script:Closed = Get-ClosedLoopbackUrl
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "mi-abi-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory $Work

    function script:Invoke-Abi([hashtable] $Request, [hashtable] $Secret, [hashtable[]] $Then = @()) {
        # Operations in a fresh process of the C program: $Request, then each of $Then on the
        # context the previous one returned ("@HANDLE@"). The last final chunk, parsed, and the
        # items every chunk of the last operation carried, in order.
        $id = [guid]::NewGuid().ToString('N')
        $requestFile = Join-Path $Work "$id.request.json"
        [IO.File]::WriteAllText($requestFile, (ConvertTo-Json -InputObject $Request -Depth 10 -Compress))
        $arguments = @($Dll, "$AbiVersion", $requestFile)
        if ($Secret) {
            $secretFile = Join-Path $Work "$id.secret.json"
            [IO.File]::WriteAllText($secretFile, (ConvertTo-Json -InputObject $Secret -Compress))
            $arguments += $secretFile
        }
        $n = 0
        foreach ($next in $Then) {
            $n++
            $nextFile = Join-Path $Work "$id.then$n.json"
            [IO.File]::WriteAllText($nextFile, (ConvertTo-Json -InputObject $next -Depth 10 -Compress))
            $arguments += @('--then', $nextFile)
        }
        $output = @(& $Program @arguments)
        $exit = $LASTEXITCODE
        Remove-Item (Join-Path $Work "$id.*")
        $results = @($output | Where-Object { $_ -like 'RESULT=*' })
        $last = @($output | Where-Object { $_ -like 'RESULT=*' -or $_ -like 'CHUNK=*' })
        if ($results.Count -gt 1) { $last = @($last | Select-Object -Skip ([array]::IndexOf($last, $results[-2]) + 1)) }
        $items = foreach ($line in $last) {
            foreach ($event in @((ConvertFrom-Json $line.Substring($line.IndexOf('=') + 1)).events)) {
                if ($event.type -eq 'item') { $event.item }
            }
        }
        [pscustomobject]@{
            Exit    = $exit
            Output  = $output -join "`n"
            Abi     = ($output | Where-Object { $_ -like 'ABI=*' } | Select-Object -First 1)
            Chunk   = if ($results) { ConvertFrom-Json $results[-1].Substring(7) } else { $null }
            Results = $results.Count
            Items   = @($items)
        }
    }

    function script:Get-Connect([hashtable] $Variables, [hashtable] $Extra = @{}) {
        # The host's variables as the cmdlets snapshot them; IMDS off unless given.
        $snapshot = @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Closed; ProgramData = $env:ProgramData }
        foreach ($key in $Variables.Keys) { $snapshot[$key] = $Variables[$key] }
        $arguments = @{ method = 'ManagedIdentity'; environment = $snapshot; graphEndpoint = $Base; timeoutSeconds = 20 }
        foreach ($key in $Extra.Keys) { $arguments[$key] = $Extra[$key] }
        @{ op = 'identity.connect'; args = $arguments }
    }
}

AfterAll {
    Stop-TestEmulator $Emulator
    if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work }
}

Describe 'The packaged engine through LoadLibraryW and the C ABI' -Tag 'WindowsOnly', 'AbiProgram' {
    BeforeEach { Set-EmulatorConfig $Emulator @{ arcChallenge = 'valid' }; Reset-EmulatorStats $Emulator }

    It 'loads, reports the ABI version the FFI crate declares (ABI_VERSION) and answers engine.info' {
        $run = Invoke-Abi @{ op = 'engine.info'; args = @{} }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Abi | Should -Be "ABI=$AbiVersion"
        $run.Chunk.done | Should -BeTrue
        $run.Chunk.result.EnvironmentVariables | Should -Contain 'IDENTITY_ENDPOINT'
    }

    It 'gets a managed-identity token on <Name>' -ForEach @(
        @{ Name = 'Automation'; Target = 'automation' }
        @{ Name = 'AppService'; Target = 'appService' }
        @{ Name = 'IMDS'; Target = 'imds' }
        @{ Name = 'Arc'; Target = 'arc' }
    ) {
        $environment = @{}; $secret = $null
        switch ($Name) {
            'Automation' { $environment = @{ IDENTITY_ENDPOINT = "$Base/automation/token"; AZUREPS_HOST_ENVIRONMENT = 'AzureAutomation' }; $secret = @{ IDENTITY_HEADER = $Emulator.IdentityHeader } }
            'AppService' { $environment = @{ IDENTITY_ENDPOINT = "$Base/msi/token" }; $secret = @{ IDENTITY_HEADER = $Emulator.IdentityHeader } }
            'IMDS' { $environment = @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Base } }
            'Arc' { foreach ($p in $Hosts.arc.environment.PSObject.Properties) { $environment[$p.Name] = [string]$p.Value } }
        }
        $run = Invoke-Abi (Get-Connect $environment) $secret
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error | Should -BeNullOrEmpty -Because $run.Output
        $run.Chunk.result.Handle | Should -Not -BeNullOrEmpty
        $run.Chunk.result.Roles | Should -Contain 'AppRoleAssignment.ReadWrite.All'
        (Get-EmulatorStats $Emulator).requests.$Target | Should -BeGreaterThan 0
        if ($Name -eq 'Arc') { (Get-EmulatorStats $Emulator).requests.arcWithKey | Should -Be 1 }
    }

    It 'refuses the Arc key file <Mode> (Windows paths) before the key is sent' -ForEach @(
        @{ Mode = 'outsideDirectory' }, @{ Mode = 'dotDot' }, @{ Mode = 'symlink' }, @{ Mode = 'linkedDirectory' },
        @{ Mode = 'unc' }, @{ Mode = 'wrongExtension' }, @{ Mode = 'oversize' }
    ) {
        Set-EmulatorConfig $Emulator @{ arcChallenge = $Mode }
        $environment = @{}
        foreach ($p in $Hosts.arc.environment.PSObject.Properties) { $environment[$p.Name] = [string]$p.Value }
        $run = Invoke-Abi (Get-Connect $environment)
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error.errorId | Should -Be 'ManagedIdentity.UnsafeKeyFile' -Because $run.Output
        $run.Chunk.error.message | Should -Match ([regex]::Escape($Tokens))
        (Get-EmulatorStats $Emulator).requests.arcWithKey | Should -Be 0
    }

    It 'signs in with a client secret' {
        $seed = Get-EmulatorSeed $Emulator
        $created = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 1; prefix = 'abi'; type = 'Application' }
        $graph = $seed.resources | Where-Object alias -EQ 'Graph'
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/assignments' -Body @{ principalId = $created[0].id; resourceId = $graph.objectId; appRoleValue = 'Application.Read.All' }
        $request = Get-Connect @{} @{ method = 'ClientSecret'; tenantId = $seed.tenantId; clientId = $created[0].appId; authorityHost = $Base }
        $run = Invoke-Abi $request @{ clientSecret = 'emulator-client-secret' }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error | Should -BeNullOrEmpty -Because $run.Output
        $run.Chunk.result.Roles | Should -Contain 'Application.Read.All'
        $run.Output | Should -Not -Match 'emulator-client-secret'
    }

    It 'grants in bulk under injected faults: every item once, typed errors, nothing lost' {
        $seed = Get-EmulatorSeed $Emulator
        $roles = [string[]]@($seed.bulkRoles)
        $created = @(Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 30; prefix = 'abi-bulk' } | ForEach-Object { $_ })
        $ids = [string[]]@($created.id)
        $ids.Count | Should -Be 30
        # Faults are drawn per request and attempt from this seed: a failure replays with it.
        $faultSeed = if ($env:MANAGEDIDENTITY_FAULT_SEED) { [long]$env:MANAGEDIDENTITY_FAULT_SEED } else { Get-Random -Minimum 1 -Maximum 1000000 }
        Write-Host "EngineAbi bulk fault seed: $faultSeed (replay: MANAGEDIDENTITY_FAULT_SEED=$faultSeed)"
        Set-EmulatorConfig $Emulator @{ randomSeed = $faultSeed }
        Add-EmulatorFault $Emulator @{ target = 'batchItem'; kind = 'status'; status = 429; retryAfter = '0.05'; probability = 0.1 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'status'; status = 503; retryAfter = '0.05'; probability = 0.1 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'reset'; probability = 0.1 }
        # One identity that does not exist: its items fail with a typed error, the others go on.
        $missing = 'abi-bulk-nobody'
        $grant = @{ op = 'graph.grant'; args = @{ context = '@HANDLE@'; identities = [string[]]($ids + $missing); permissions = $roles; concurrency = 4 } }
        try { $run = Invoke-Abi (Get-Connect @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Base }) -Then @($grant) }
        finally { Clear-EmulatorFaults $Emulator }
        $because = "fault seed $faultSeed; $($run.Output.Substring(0, [Math]::Min(2000, $run.Output.Length)))"
        # No panic and no other status reached the program: both operations ended with a chunk.
        $run.Exit | Should -Be 0 -Because $because
        $run.Results | Should -Be 2 -Because $because
        $run.Output | Should -Not -Match 'POLL_STATUS=|START_STATUS=|TIMEOUT' -Because $because
        $run.Chunk.error | Should -BeNullOrEmpty -Because $because
        $granted = @($run.Items | Where-Object identityId -In $ids)
        $granted.Count | Should -Be ($ids.Count * $roles.Count) -Because $because
        @($granted | Where-Object status -NE 'Granted') | Should -BeNullOrEmpty -Because $because
        @($granted | ForEach-Object { "$($_.identityId)|$($_.permission)" } | Sort-Object -Unique).Count | Should -Be $granted.Count
        $failed = @($run.Items | Where-Object identityId -NotIn $ids)
        $failed.Count | Should -BeGreaterThan 0 -Because $because
        foreach ($item in $failed) {
            $item.identity | Should -Be $missing
            $item.status | Should -Be 'Failed'
            $item.error.errorId | Should -Be 'ManagedIdentity.NotFound'
            $item.error.category | Should -Be 'ObjectNotFound'
        }
        $run.Chunk.result.succeeded | Should -Be $granted.Count
        $run.Chunk.result.failed | Should -Be $failed.Count
        # The emulator's state: each pair exactly once, with the id the item reported.
        $names = @{}
        foreach ($role in ($seed.resources | Where-Object alias -EQ 'Graph').roles) { $names[$role.id] = $role.value }
        $state = @{}
        foreach ($a in @(Invoke-Emulator $Emulator -Path '/_emulator/assignments' | ForEach-Object { $_ })) {
            if ($ids -notcontains $a.principalId) { continue }
            $key = "$($a.principalId)|$($names[$a.appRoleId])"
            $state.ContainsKey($key) | Should -BeFalse -Because "one assignment per pair ($key)"
            $state[$key] = $a.id
        }
        $state.Count | Should -Be $granted.Count
        foreach ($item in $granted) { $item.assignmentId | Should -Be $state["$($item.identityId)|$($item.permission)"] }
        # The faults really fired (the log keeps the last 1,000 requests), and every write applied once.
        $stats = Get-EmulatorStats $Emulator
        @($stats.log | Where-Object { $_.status -in 0, 429, 503 }).Count | Should -BeGreaterThan 0 -Because $because
        $stats.requests.graphWritesApplied | Should -Be $granted.Count -Because $because
    }

    It 'keeps a panic inside the engine: an Internal error, the program ends normally' {
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        try { $run = Invoke-Abi @{ op = 'diagnostics.panic'; args = @{} } }
        finally { Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS -ErrorAction SilentlyContinue }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error.errorId | Should -Be 'ManagedIdentity.Internal'
    }
}
