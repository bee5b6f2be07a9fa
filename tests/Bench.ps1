#Requires -Version 7.2
<#
.SYNOPSIS
    Measures ManagedIdentity against baselines taken in the same run; run through
    `./build.ps1 -Task Bench`. Prints a table and writes results.md / results.json.
.DESCRIPTION
    Every figure is a median over fresh pwsh processes (at least 7) or, for the bulk grant, one
    full run per contender against its own fresh emulator. Everything runs on loopback.
    - import:       pwsh -NoProfile -c 'Import-Module …'            minus   pwsh -NoProfile -c 0
    - cold token:   import → Connect-Identity -Identity → Get-IdentityToken (Automation endpoint)
                    minus bare pwsh
    - cached token: Get-IdentityToken on a warm context  vs  a no-op advanced function (in-process)
    - bulk grant:   10 roles × 200 identities, emulator latency 30 ms, 4 concurrent requests:
                    this module  vs  the seed's approach (sequential Invoke-RestMethod look-up and
                    one POST per permission)  vs  the modelled lower bound
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $EmulatorPath,
    [Parameter(Mandatory)] [string] $OutputDirectory,
    [ValidateRange(7, 101)] [int] $Runs = 9,
    [int] $BulkIdentities = 200,
    [int] $LatencyMs = 30,
    [int] $Concurrency = 4
)

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
$pwsh = Get-PwshPath
$null = New-Item -ItemType Directory -Force $OutputDirectory
$bulkRoles = @('Application.Read.All', 'AuditLog.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Mail.Read', 'Mail.Send', 'Sites.Read.All', 'User.Read.All', 'Calendars.Read', 'Reports.Read.All')

function Get-Median([double[]] $Values) {
    $sorted = $Values | Sort-Object
    $n = $sorted.Count
    if ($n % 2) { $sorted[[int][math]::Floor($n / 2)] } else { ($sorted[$n / 2 - 1] + $sorted[$n / 2]) / 2 }
}

function Measure-FreshPwsh {
    # Runs a script in a fresh pwsh; returns wall ms (parent's view) and the child's own peak
    # working set (it prints PEAK=<bytes> as its last act) plus any KEY=VALUE lines it printed.
    param([string] $Script)
    $file = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-$([guid]::NewGuid()).ps1"
    Set-Content -Path $file -Encoding utf8 -Value ($Script + "`n'PEAK=' + [Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64")
    try {
        $info = [Diagnostics.ProcessStartInfo]::new($pwsh)
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $file) { $info.ArgumentList.Add($a) }
        $info.RedirectStandardOutput = $true; $info.RedirectStandardError = $true; $info.UseShellExecute = $false
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $process = [Diagnostics.Process]::Start($info)
        $stdout = $process.StandardOutput.ReadToEndAsync(); $stderr = $process.StandardError.ReadToEndAsync()
        $process.WaitForExit(); $watch.Stop()
        $values = @{ WallMs = $watch.Elapsed.TotalMilliseconds }
        foreach ($line in ($stdout.Result -split "`r?`n")) { if ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = $Matches[2] } }
        if ($process.ExitCode -ne 0 -or -not $values.ContainsKey('PEAK')) { throw "benchmark child failed: $($stdout.Result) $($stderr.Result)" }
        $values.PeakMB = [double]$values.PEAK / 1MB
        [pscustomobject]$values
    }
    finally { Remove-Item $file -ErrorAction SilentlyContinue }
}

function Measure-Scenarios {
    # Runs every scenario once per round, interleaved, so drift on the machine touches them all
    # alike; returns the median wall time and peak working set of each.
    param([System.Collections.Specialized.OrderedDictionary] $Scenarios)
    $samples = @{}
    foreach ($name in $Scenarios.Keys) { $samples[$name] = [Collections.Generic.List[object]]::new() }
    for ($round = 1; $round -le $Runs; $round++) {
        Write-Host "  round $round of $Runs"
        foreach ($name in $Scenarios.Keys) { $samples[$name].Add((Measure-FreshPwsh $Scenarios[$name])) }
    }
    $result = @{}
    foreach ($name in $Scenarios.Keys) {
        $result[$name] = [pscustomobject]@{ WallMs = Get-Median $samples[$name].WallMs; PeakMB = Get-Median $samples[$name].PeakMB }
    }
    $result
}

$rows = [Collections.Generic.List[object]]::new()
function Add-Row([string] $Measure, [string] $Value, [string] $Baseline, [string] $Result, [string] $Goal) {
    $rows.Add([pscustomobject]@{ Measure = $Measure; Value = $Value; Baseline = $Baseline; Result = $Result; Goal = $Goal })
}

$emulator = Start-TestEmulator
try {
    Write-Host 'Start-up figures'
    Set-IdentityEnvironment $emulator 'Automation'
    # Warm the OS file cache once so the first sample is not an outlier.
    $null = Measure-FreshPwsh "Import-Module '$ModulePath'"
    # The floor: PowerShell's own cost of importing a module that does nothing.
    $emptyModule = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-empty-$PID"
    $null = New-Item -ItemType Directory -Force $emptyModule
    Set-Content (Join-Path $emptyModule 'EmptyModule.psd1') "@{ RootModule = 'EmptyModule.psm1'; ModuleVersion = '1.0'; FunctionsToExport = @('Get-Nothing') }"
    Set-Content (Join-Path $emptyModule 'EmptyModule.psm1') 'function Get-Nothing { }'
    $scenarios = [ordered]@{
        bare   = '0'
        empty  = "Import-Module '$(Join-Path $emptyModule 'EmptyModule.psd1')'"
        import = "Import-Module '$ModulePath'"
        cold   = @"
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$($emulator.BaseUrl)'
`$null = Get-IdentityToken
"@
    }
    $measured = Measure-Scenarios $scenarios
    Remove-Item -Recurse -Force $emptyModule
    $bare = $measured.bare; $empty = $measured.empty; $import = $measured.import; $cold = $measured.cold
    Add-Row 'import: wall, added to bare pwsh' ('{0:N0} ms' -f ($import.WallMs - $bare.WallMs)) ('{0:N0} ms bare' -f $bare.WallMs) ('{0:N0} ms total' -f $import.WallMs) '<= 60 ms'
    Add-Row 'import of an empty module (PowerShell''s floor), added' ('{0:N0} ms' -f ($empty.WallMs - $bare.WallMs)) ('{0:N0} ms bare' -f $bare.WallMs) ('ours adds {0:N0} ms on top' -f ($import.WallMs - $empty.WallMs)) ''
    Add-Row 'import: peak RSS, added' ('{0:N1} MB' -f ($import.PeakMB - $bare.PeakMB)) ('{0:N1} MB bare' -f $bare.PeakMB) ('{0:N1} MB total' -f $import.PeakMB) '<= 15 MB'
    Add-Row 'cold token: wall, added to bare pwsh' ('{0:N0} ms' -f ($cold.WallMs - $bare.WallMs)) ('{0:N0} ms bare' -f $bare.WallMs) ('{0:N0} ms total' -f $cold.WallMs) ''
    Add-Row 'cold token: peak RSS, added' ('{0:N1} MB' -f ($cold.PeakMB - $bare.PeakMB)) ('{0:N1} MB bare' -f $bare.PeakMB) ('{0:N1} MB total' -f $cold.PeakMB) ''

    Write-Host 'Cached token vs a no-op advanced function (in-process)'
    $cached = Measure-FreshPwsh @"
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$($emulator.BaseUrl)'
function Invoke-NoOp { [CmdletBinding()] param([string] `$Resource, [switch] `$ForceRefresh, [switch] `$AsPlainText) }
`$calls = 2000
`$ratios = @(); `$token = @(); `$noop = @()
for (`$i = 0; `$i -lt `$calls; `$i++) { `$null = Invoke-NoOp; `$null = Get-IdentityToken }  # warm-up (JIT, call-site caches)
for (`$round = 0; `$round -lt $Runs; `$round++) {
    `$w = [Diagnostics.Stopwatch]::StartNew(); for (`$i = 0; `$i -lt `$calls; `$i++) { `$null = Invoke-NoOp }; `$w.Stop(); `$n = `$w.Elapsed.TotalMilliseconds * 1000 / `$calls
    `$w = [Diagnostics.Stopwatch]::StartNew(); for (`$i = 0; `$i -lt `$calls; `$i++) { `$null = Get-IdentityToken }; `$w.Stop(); `$t = `$w.Elapsed.TotalMilliseconds * 1000 / `$calls
    `$noop += `$n; `$token += `$t; `$ratios += (`$t / `$n)
}
'NOOP=' + (`$noop | Sort-Object)[[int][math]::Floor(`$noop.Count / 2)]
'TOKEN=' + (`$token | Sort-Object)[[int][math]::Floor(`$token.Count / 2)]
'RATIO=' + (`$ratios | Sort-Object)[[int][math]::Floor(`$ratios.Count / 2)]
"@
    Add-Row 'cached Get-IdentityToken per call' ('{0:N1} us' -f [double]$cached.TOKEN) ('{0:N1} us no-op function' -f [double]$cached.NOOP) ('{0:N2}x' -f [double]$cached.RATIO) '<= 2x'
}
finally { Stop-TestEmulator $emulator }

Write-Host "Bulk grant: $($bulkRoles.Count) roles x $BulkIdentities identities, latency $LatencyMs ms, $Concurrency concurrent requests"
function Start-BulkEmulator {
    $e = Start-TestEmulator -ArgumentList @('--latency-ms', "$LatencyMs", '--max-concurrency', "$Concurrency")
    $created = Invoke-Emulator $e -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = $BulkIdentities; prefix = 'bench-mi' }
    [pscustomobject]@{ Emulator = $e; Identities = @($created) }
}
function Get-BulkOutcome($Bulk) {
    # Invoke-RestMethod returns a JSON array as one object: unroll it.
    $assignments = @(Invoke-Emulator $Bulk.Emulator -Path '/_emulator/assignments' | ForEach-Object { $_ })
    $ids = @{}; foreach ($i in $Bulk.Identities) { $ids[$i.id] = $true }
    $mine = @($assignments | Where-Object { $ids.ContainsKey($_.principalId) })
    $unique = @($mine | ForEach-Object { "$($_.principalId)|$($_.appRoleId)" } | Sort-Object -Unique)
    $stats = Get-EmulatorStats $Bulk.Emulator
    [pscustomobject]@{
        Expected = $BulkIdentities * $bulkRoles.Count; Present = $unique.Count; Duplicates = $mine.Count - $unique.Count
        Requests = $stats.requests.graph; Batches = $stats.requests.batches; Writes = $stats.requests.graphWrites
    }
}

$idle = Measure-FreshPwsh '0'
$roleList = ($bulkRoles | ForEach-Object { "'$_'" }) -join ','

$ours = Start-BulkEmulator
try {
    Set-IdentityEnvironment $ours.Emulator 'IMDS'
    $idList = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-ids-$([guid]::NewGuid()).txt"
    Set-Content $idList ($ours.Identities.id)
    Reset-EmulatorStats $ours.Emulator
    $run = Measure-FreshPwsh @"
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$($ours.Emulator.BaseUrl)'
`$ids = Get-Content '$idList'
`$w = [Diagnostics.Stopwatch]::StartNew()
`$count = 0; `$granted = 0
# Results are consumed as they stream (as a runbook writing its output would), not held.
`$ids | Grant-GraphAppRole -Permission $roleList -Confirm:`$false | ForEach-Object { `$count++; if (`$_.Status -eq 'Granted') { `$granted++ } }
`$w.Stop()
'GRANTMS=' + `$w.Elapsed.TotalMilliseconds
'RESULTS=' + `$count
'GRANTED=' + `$granted
"@
    $oursOutcome = Get-BulkOutcome $ours
    Remove-Item $idList -ErrorAction SilentlyContinue
}
finally { Stop-TestEmulator $ours.Emulator }

$base = Start-BulkEmulator
try {
    Reset-EmulatorStats $base.Emulator
    $nameList = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-names-$([guid]::NewGuid()).txt"
    Set-Content $nameList ($base.Identities.displayName)
    # What the seed script does: IMDS token with Invoke-RestMethod, display-name look-up per
    # identity (first match), then one POST per permission, sequentially.
    $baseline = Measure-FreshPwsh @"
`$graph = '$($base.Emulator.BaseUrl)'
`$token = (Invoke-RestMethod -Headers @{ Metadata = 'true' } -Uri "`$graph/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com").access_token
`$headers = @{ Authorization = "Bearer `$token" }
`$w = [Diagnostics.Stopwatch]::StartNew()
`$sp = (Invoke-RestMethod -Headers `$headers -Uri "`$graph/v1.0/servicePrincipals?```$filter=appId eq '00000003-0000-0000-c000-000000000000'").value[0]
`$done = 0
foreach (`$name in Get-Content '$nameList') {
    `$mi = (Invoke-RestMethod -Headers `$headers -Uri "`$graph/v1.0/servicePrincipals?```$filter=displayName eq '`$name'").value | Select-Object -First 1
    foreach (`$permission in @($roleList)) {
        `$role = `$sp.appRoles | Where-Object { `$_.value -eq `$permission }
        `$body = @{ principalId = `$mi.id; resourceId = `$sp.id; appRoleId = `$role.id } | ConvertTo-Json
        `$null = Invoke-RestMethod -Method POST -Headers `$headers -ContentType 'application/json' -Body `$body -Uri "`$graph/v1.0/servicePrincipals/`$(`$sp.id)/appRoleAssignedTo"
        `$done++
    }
}
`$w.Stop()
'GRANTMS=' + `$w.Elapsed.TotalMilliseconds
'RESULTS=' + `$done
"@
    $baseOutcome = Get-BulkOutcome $base
    Remove-Item $nameList -ErrorAction SilentlyContinue
}
finally { Stop-TestEmulator $base.Emulator }

$writeBatches = [math]::Ceiling($BulkIdentities * $bulkRoles.Count / 20)
$lowerBoundMs = [math]::Ceiling($writeBatches / $Concurrency) * $LatencyMs
$oursMs = [double]$run.GRANTMS; $baseMs = [double]$baseline.GRANTMS
Add-Row 'bulk grant 2,000: this module' ('{0:N0} ms' -f $oursMs) ('{0:N0} ms seed-style baseline' -f $baseMs) ('{0:N1}x faster' -f ($baseMs / $oursMs)) '>= 30x faster'
Add-Row 'bulk grant: vs modelled lower bound' ('{0:N0} ms' -f $oursMs) ('{0:N0} ms = ceil({1} write batches / {2}) x {3} ms' -f $lowerBoundMs, $writeBatches, $Concurrency, $LatencyMs) ('{0:N2}x the bound' -f ($oursMs / $lowerBoundMs)) '<= 2x'
Add-Row 'bulk grant: HTTP requests (batches)' ("$($oursOutcome.Requests) ($($oursOutcome.Batches) `$batch)") "$($baseOutcome.Requests) baseline" ("$($oursOutcome.Writes) writes") ''
Add-Row 'bulk grant: lost / duplicate assignments' ("$($oursOutcome.Expected - $oursOutcome.Present) / $($oursOutcome.Duplicates)") ("$($baseOutcome.Expected - $baseOutcome.Present) / $($baseOutcome.Duplicates) baseline") ("$($run.RESULTS) results, $($run.GRANTED) Granted") '0 / 0'
Add-Row 'bulk grant: peak RSS above idle pwsh' ('{0:N1} MB' -f ($run.PeakMB - $idle.PeakMB)) ('{0:N1} MB idle pwsh' -f $idle.PeakMB) ('{0:N1} MB baseline above idle' -f ($baseline.PeakMB - $idle.PeakMB)) '<= 30 MB'

$table = $rows | Format-Table -AutoSize | Out-String -Width 200
Write-Host $table
$markdown = @(
    "# ManagedIdentity benchmark ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, $([Environment]::ProcessorCount) cores, pwsh $($PSVersionTable.PSVersion))"
    ''
    "Medians of $Runs fresh processes for start-up figures; one run per contender for the bulk grant."
    ''
    '| Measure | Value | Baseline (same run) | Result | Goal |'
    '|---|---|---|---|---|'
    ($rows | ForEach-Object { "| $($_.Measure) | $($_.Value) | $($_.Baseline) | $($_.Result) | $($_.Goal) |" })
)
Set-Content -Path (Join-Path $OutputDirectory 'results.md') -Value $markdown -Encoding utf8
$rows | ConvertTo-Json | Set-Content -Path (Join-Path $OutputDirectory 'results.json') -Encoding utf8
Write-Host "Written to $(Join-Path $OutputDirectory 'results.md')"
