#Requires -Version 7.2
<#
.SYNOPSIS
    The bench's "Windows pwsh" section: the cold-start routes and the bulk grant measured in a
    Windows pwsh against the win-x64 engine, as ratios against the Azure.Identity route and the
    seed-style baseline measured in the same pwsh and run. Reported, never asserted.
.DESCRIPTION
    Runs INSIDE the Windows pwsh. `./build.ps1 -Task Bench` starts it after tests/Bench.ps1: on
    Windows in this pwsh; on Linux in the Windows pwsh that MANAGEDIDENTITY_WINDOWS_PWSH names
    (under Wine), with `mi-emulator --pool` running natively on the Linux side and its address in
    MANAGEDIDENTITY_TEST_EMULATOR_POOL (Start-TestEmulator asks it for each emulator: a Windows
    pwsh under Wine cannot start a Linux program and see its output).
    Measured as tests/Bench.ps1 measures them (tests/BenchHelpers.psm1): fresh child processes of
    this pwsh, every route once per round, rounds interleaved, each child with an empty
    PowerShell cache folder (LOCALAPPDATA); medians and min-max; added over bare pwsh; the last
    column divides that by what the Azure.Identity route adds. Peak RSS is the child's
    PeakWorkingSet64 (under Wine, Wine derives it from the Linux VmHWM of the Wine process).
    Appends the section to results.md / results.json in -OutputDirectory and prints its tables.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutputDirectory,
    # As many as Bench.ps1's: under Wine a child's wall time spreads wider (its process start goes
    # through wineserver), and fewer rounds left medians inside that spread on a busy machine.
    [ValidateRange(3, 101)] [int] $Runs = 25,
    [int] $BulkIdentities = 200,
    [int] $LatencyMs = 30,
    [int] $Concurrency = 4,
    # A folder holding Azure.Identity and its dependencies (as Windows names it).
    [string] $AzureIdentityPath = $env:MANAGEDIDENTITY_BENCH_AZURE_IDENTITY
)

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'BenchHelpers.psm1') -Force
if (-not (Test-OnWindows)) { throw 'tests/Bench.Windows.ps1 measures a Windows pwsh: run it in one (./build.ps1 -Task Bench does).' }

$underWine = Test-UnderWine
$where = if ($underWine) { 'under Wine' } else { 'on Windows' }
$engine = Join-Path $ModulePath 'runtimes/win-x64/native/managedidentity_engine.dll'
if (-not (Test-Path -LiteralPath $engine)) { throw "The win-x64 engine is not in the module ($engine)." }
$peerFolder = Resolve-AzureIdentityFolder $AzureIdentityPath
$peakSource = Get-PeakSource
$header = "pwsh $($PSVersionTable.PSVersion) (win-x64, $([Environment]::OSVersion.VersionString)) $where, $([Environment]::ProcessorCount) cores"
Write-Host "Windows pwsh: $header"

# Cold start: the routes a runbook takes, in fresh processes of this pwsh.
$emulator = Start-TestEmulator -ArgumentList @('--no-automation-metadata')
try {
    Set-IdentityEnvironment $emulator 'Automation'
    $scenarios = Get-ColdRouteScript -ModulePath $ModulePath -BaseUrl $emulator.BaseUrl -PeerFolder $peerFolder
    # dot-source alone is Bench.ps1's; here the dot-sourced cold route stands for it.
    $scenarios.Remove('dotsource')
    Write-Host "Cold start: $($scenarios.Count) routes, $Runs interleaved rounds of fresh processes"
    # Warm the file cache (and Wine's) once so the first sample is not an outlier.
    $null = Measure-FreshPwsh $scenarios.cold
    $samples = Measure-Scenarios $scenarios -Runs $Runs
}
finally { Stop-TestEmulator $emulator }
$cold = Get-ColdStartTable $samples
$added = $cold.Added
$peerRatio = if ($added.ContainsKey('azure') -and $added.azure.Wall -gt 0) {
    '{0:N2}x the wall time the Azure.Identity route adds ({1:N0} ms vs {2:N0} ms; dot-sourced: {3:N2}x, {4:N0} ms); peak RSS {5:+0.0;-0.0} MiB vs {6:+0.0;-0.0} MiB' -f `
    ($added.cold.Wall / $added.azure.Wall), $added.cold.Wall, $added.azure.Wall, ($added.colddot.Wall / $added.azure.Wall), $added.colddot.Wall, $added.cold.Peak, $added.azure.Peak
}
else { 'not measured: set MANAGEDIDENTITY_BENCH_AZURE_IDENTITY to a folder holding Azure.Identity and its dependencies' }

# Bulk grant: this module vs the seed script's approach vs the modelled lower bound.
Write-Host "Bulk grant: $((Get-BulkRole).Count) roles x $BulkIdentities identities, latency $LatencyMs ms, $Concurrency concurrent requests"
$bulkSize = @{ Identities = $BulkIdentities; LatencyMs = $LatencyMs; Concurrency = $Concurrency }
$idle = Measure-FreshPwsh '0'
$ours = Measure-BulkGrant -ModulePath $ModulePath @bulkSize
$seed = Measure-SeedBulkGrant @bulkSize
$bound = Get-BulkLowerBound @bulkSize
$oursMs = [double]$ours.GRANTMS; $seedMs = [double]$seed.GRANTMS
$lost = $ours.Outcome.Expected - $ours.Outcome.Present
$bulkRows = @(
    [pscustomobject]@{ Measure = "bulk grant $('{0:N0}' -f $ours.Outcome.Expected): this module"; Value = '{0:N0} ms' -f $oursMs; Baseline = '{0:N0} ms seed-style baseline' -f $seedMs; Result = '{0:N1}x faster' -f ($seedMs / $oursMs) }
    [pscustomobject]@{ Measure = 'bulk grant: vs modelled lower bound'; Value = '{0:N0} ms' -f $oursMs; Baseline = '{0:N0} ms = ceil({1} write batches / {2}) x {3} ms' -f $bound.Ms, $bound.Batches, $Concurrency, $LatencyMs; Result = '{0:N2}x the bound' -f ($oursMs / $bound.Ms) }
    [pscustomobject]@{ Measure = 'bulk grant: HTTP requests (batches)'; Value = "$($ours.Outcome.Requests) ($($ours.Outcome.Batches) `$batch)"; Baseline = "$($seed.Outcome.Requests) baseline"; Result = "$($ours.Outcome.Writes) writes" }
    [pscustomobject]@{ Measure = 'bulk grant: lost / duplicate assignments'; Value = "$lost / $($ours.Outcome.Duplicates)"; Baseline = "$($seed.Outcome.Expected - $seed.Outcome.Present) / $($seed.Outcome.Duplicates) baseline"; Result = "$($ours.RESULTS) results, $($ours.GRANTED) Granted" }
    [pscustomobject]@{ Measure = 'bulk grant: peak RSS above idle pwsh'; Value = '{0:N1} MiB' -f ($ours.PeakMiB - $idle.PeakMiB); Baseline = '{0:N1} MiB idle pwsh' -f $idle.PeakMiB; Result = '{0:N1} MiB baseline above idle' -f ($seed.PeakMiB - $idle.PeakMiB) }
    [pscustomobject]@{ Measure = 'bulk grant: managed memory allocated per result / heap left after a full GC'; Value = '{0:N1} KiB / {1:N1} MiB' -f (Get-KiBPerResult $ours), ([double]$ours.RETAINED / 1MB); Baseline = '{0:N1} KiB / {1:N1} MiB baseline' -f (Get-KiBPerResult $seed), ([double]$seed.RETAINED / 1MB); Result = '' }
)

$wineNote = if ($underWine) {
    'Wine is not Windows: these figures show how this pwsh build, its ReadyToRun assemblies, the C# cmdlets on .NET for Windows and the win-x64 engine behave relative to Azure.Identity in the same process model; Wine''s process creation, loader, file and socket layers stand in for Windows'' own, so absolute milliseconds (and the bare pwsh start) are not what a Windows machine shows.'
}
else { 'Measured on Windows.' }
$coldTitle = "Cold start in the Windows pwsh: medians (min-max) of $Runs fresh processes per route, rounds interleaved"
Write-Host "`n$coldTitle"
Write-Host ($cold.Rows | Format-Table -AutoSize | Out-String -Width 250)
Write-Host "Cold token vs Azure.Identity (Windows pwsh): $peerRatio"
Write-Host "`nBulk grant in the Windows pwsh"
Write-Host ($bulkRows | Format-Table -AutoSize | Out-String -Width 250)
Write-Host "Peak RSS: $peakSource."
Write-Host $wineNote

$markdown = @(
    '## Windows pwsh'
    ''
    "$header; the win-x64 engine; the emulator at a loopback address ($(if ($underWine) { 'running natively on the Linux side, its address handed in' } else { 'started by the bench' })). Reported, never asserted. $wineNote"
    ''
    "### $coldTitle"
    ''
    "Wall is the parent pwsh's view from process start to exit; peak RSS is $peakSource. ""Added"" is over bare pwsh; the last column divides the added figures by the Azure.Identity route's, measured in this pwsh in this run."
    ''
    (Get-ColdStartMarkdown $cold.Rows)
    ''
    "Cold token (import -> Connect-Identity -Identity -> Get-IdentityToken) adds $peerRatio."
    ''
    "### Bulk grant in the Windows pwsh: $((Get-BulkRole).Count) roles x $BulkIdentities identities, latency $LatencyMs ms, $Concurrency concurrent requests"
    ''
    '| Measure | Value | Baseline (same pwsh, same run) | Result |'
    '|---|---|---|---|'
    ($bulkRows | ForEach-Object { "| $($_.Measure) | $($_.Value) | $($_.Baseline) | $($_.Result) |" })
)
$value = [pscustomobject]@{
    Pwsh = "$($PSVersionTable.PSVersion)"; Os = [Environment]::OSVersion.VersionString; UnderWine = $underWine; Runs = $Runs
    PeakRss = $peakSource; ColdStart = $cold.Rows; ColdTokenVsAzureIdentity = $peerRatio; BulkGrant = $bulkRows; Note = $wineNote
}
Add-BenchSection -OutputDirectory $OutputDirectory -Property 'WindowsPwsh' -Markdown $markdown -Value $value
Write-Host "Windows pwsh section written to $(Join-Path $OutputDirectory 'results.md')"
