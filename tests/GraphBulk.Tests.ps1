#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Bulk app-role grants on the built module against the emulator: 2,000 assignments under
# injected faults, and Ctrl+C (PowerShell.Stop) in the middle of a bulk run. Outcomes are checked
# against the emulator's own state.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:GraphUrl = $Emulator.BaseUrl
    $script:Graph = $Seed.resources | Where-Object alias -EQ 'Graph'
    $script:BulkRoles = [string[]]@($Seed.bulkRoles)

    function Get-EmulatorList {
        # Invoke-RestMethod does not enumerate a JSON array: flatten it.
        param([string] $Path, [string] $Method = 'GET', $Body)
        $parameters = @{ Path = $Path; Method = $Method }
        if ($PSBoundParameters.ContainsKey('Body')) { $parameters.Body = $Body }
        Invoke-Emulator $Emulator @parameters | ForEach-Object { $_ }
    }
    function Get-Assigned {
        # The emulator's assignments of some principals, as "principalId|permission".
        param([string[]] $PrincipalId)
        $names = @{}
        foreach ($role in $Graph.roles) { $names[$role.id] = $role.value }
        $wanted = New-Object 'System.Collections.Generic.HashSet[string]' ([string[]]$PrincipalId, [System.StringComparer]::OrdinalIgnoreCase)
        foreach ($a in @(Get-EmulatorList '/_emulator/assignments')) {
            if (-not $wanted.Contains($a.principalId)) { continue }
            "$($a.principalId)|$($names[$a.appRoleId])"
        }
    }
    function Get-Expected {
        param([string[]] $PrincipalId)
        foreach ($id in $PrincipalId) { foreach ($role in $BulkRoles) { "$id|$role" } }
    }
    function New-TestIdentity {
        param([string] $Prefix, [int] $Count)
        @(Get-EmulatorList '/_emulator/servicePrincipals' -Method POST -Body @{ count = $Count; prefix = $Prefix })
    }

    Set-IdentityEnvironment $Emulator 'IMDS'
    Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
}

AfterAll {
    Clear-EmulatorFaults $Emulator
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Granting 2,000 assignments with ~5 % injected faults' {
    It 'ends with exactly the requested set: 2,000 Granted results, no duplicates, none missing' {
        $ids = [string[]]@((New-TestIdentity -Prefix 'bulk' -Count 200).id)
        $ids.Count | Should -Be 200
        $BulkRoles.Count | Should -Be 10
        Reset-EmulatorStats $Emulator
        # Faults are drawn per request and attempt from this seed, not by arrival order: a failure
        # replays with MANAGEDIDENTITY_FAULT_SEED set to the seed printed here.
        $faultSeed = if ($env:MANAGEDIDENTITY_FAULT_SEED) { [long]$env:MANAGEDIDENTITY_FAULT_SEED } else { Get-Random -Minimum 1 -Maximum 1000000 }
        Write-Host "GraphBulk fault seed: $faultSeed (replay: MANAGEDIDENTITY_FAULT_SEED=$faultSeed)"
        Set-EmulatorConfig $Emulator @{ randomSeed = $faultSeed }
        Add-EmulatorFault $Emulator @{ target = 'batchItem'; kind = 'status'; status = 429; retryAfter = '0.05'; probability = 0.05 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'status'; status = 503; retryAfter = '0.05'; probability = 0.05 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'reset'; probability = 0.05 }
        try {
            $results = @($ids | Grant-GraphAppRole -Permission $BulkRoles)
        }
        finally { Clear-EmulatorFaults $Emulator }
        $stats = Get-EmulatorStats $Emulator

        $results.Count | Should -Be 2000 -Because "fault seed $faultSeed"
        @($results | Where-Object Status -NE 'Granted') | Should -BeNullOrEmpty -Because "fault seed $faultSeed"
        @($results | ForEach-Object { "$($_.IdentityId)|$($_.Permission)" } | Sort-Object -Unique).Count | Should -Be 2000
        @($results | Where-Object { -not $_.AssignmentId }) | Should -BeNullOrEmpty

        $assigned = @(Get-Assigned $ids)
        $assigned.Count | Should -Be 2000
        @($assigned | Sort-Object -Unique).Count | Should -Be 2000
        $expected = @(Get-Expected $ids)
        Compare-Object -ReferenceObject $expected -DifferenceObject $assigned | Should -BeNullOrEmpty

        # The faults really fired (the log keeps the last 1,000 requests), and every write applied once.
        @($stats.log | Where-Object { $_.status -in 0, 429, 503 }).Count | Should -BeGreaterThan 0
        $stats.requests.graphWritesApplied | Should -Be 2000
        $stats.requests.batches | Should -BeGreaterThan 100
    }
}

Describe 'Ctrl+C in the middle of a bulk grant' {
    It 'stops within 1.5 s, leaves only requested assignments, and a re-run completes the rest without duplicates' {
        $ids = [string[]]@((New-TestIdentity -Prefix 'cancel' -Count 200).id)
        $expected = @(Get-Expected $ids)
        Set-EmulatorConfig $Emulator @{ latencyMs = 100 }
        Reset-EmulatorStats $Emulator
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($ModulePath, $Url, $Identities, $Roles)
                    Import-Module $ModulePath
                    Connect-Identity -Identity -GraphEndpoint $Url | Out-Null
                    Grant-GraphAppRole -Identity $Identities -Permission $Roles -Concurrency 2 -Confirm:$false
                }).AddArgument((Get-TestModulePath)).AddArgument($GraphUrl).AddArgument($ids).AddArgument($BulkRoles)
            # Results stream to the pipeline as each write completes, so the first result marks
            # the write phase; polling the emulator's stats instead is too slow on a busy machine.
            $output = New-Object 'System.Management.Automation.PSDataCollection[psobject]'
            $async = $ps.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]$null, $output)
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ($output.Count -eq 0 -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 20
            }
            $output.Count | Should -BeGreaterThan 0 -Because 'the run must have started writing'
            $async.IsCompleted | Should -BeFalse -Because 'the bulk run must still be going when it is stopped'
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 1.5
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally {
            $ps.Dispose()
            Set-EmulatorConfig $Emulator @{ latencyMs = 0 }
        }

        # Requests already on the wire may still land; after that nothing more may be written.
        Start-Sleep -Milliseconds 300
        $partial = @(Get-Assigned $ids)
        Start-Sleep -Milliseconds 500
        @(Get-Assigned $ids).Count | Should -Be $partial.Count
        $partial.Count | Should -BeGreaterThan 0
        $partial.Count | Should -BeLessThan $expected.Count
        @($partial | Sort-Object -Unique).Count | Should -Be $partial.Count
        @($partial | Where-Object { $expected -notcontains $_ }) | Should -BeNullOrEmpty

        $results = @(Grant-GraphAppRole -Identity $ids -Permission $BulkRoles)
        $results.Count | Should -Be $expected.Count
        @($results | Where-Object Status -EQ 'AlreadyGranted').Count | Should -Be $partial.Count
        @($results | Where-Object Status -EQ 'Granted').Count | Should -Be ($expected.Count - $partial.Count)
        $assigned = @(Get-Assigned $ids)
        $assigned.Count | Should -Be $expected.Count
        Compare-Object -ReferenceObject $expected -DifferenceObject $assigned | Should -BeNullOrEmpty
    }
}
