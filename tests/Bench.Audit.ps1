#Requires -Version 7.2
<#
.SYNOPSIS
    Audit report bench (issue 14): Get-GraphAppRoleReport over a generated tenant of 5,000
    managed identities and 20,000 assignments, emulator latency 30 ms, 4 concurrent requests,
    against a modelled lower bound and a sequential per-principal baseline.
.DESCRIPTION
    Model (lower bound): every Graph round trip costs the latency; the principals' pages are
    sequential (ceil(P / 999) round trips), and the P per-principal assignment reads travel 20 per
    $batch with C batches in flight: ceil(P / (20 x C)) round trips. Bound = (pages +
    ceil(P / (20 x C))) x latency. (Resource reads and next pages ride in the same batches.)
    Baseline: what scripts do today (Get-MgServicePrincipal -All, then
    Get-MgServicePrincipalAppRoleAssignment per principal): page the principals, then one GET per
    principal, sequentially, with Invoke-RestMethod. It is timed on the first -SequentialSample
    principals and scaled linearly to P (stated in the output).
    Called by Bench.ps1 (which adds the figures to its tables), or run alone; returns the figures.
#>
[CmdletBinding()]
param(
    [string] $ModulePath,
    [string] $EmulatorPath,
    [int] $Principals = 5000,
    [int] $Assignments = 20000,
    [int] $LatencyMs = 30,
    [int] $Concurrency = 4,
    [int] $SequentialSample = 500
)

function Measure-AuditReport {
    param([string] $ModulePath, [int] $Principals, [int] $Assignments, [int] $LatencyMs, [int] $Concurrency, [int] $SequentialSample)
    $pwshPath = Get-PwshPath
    $run = {
        param([string] $Script)
        $out = & $pwshPath -NoProfile -NonInteractive -c ($Script + @'

foreach ($line in [IO.File]::ReadAllLines('/proc/self/status')) { if ($line -match '^VmHWM:\s+(\d+)\s+kB') { 'PEAK=' + ([long]$Matches[1] * 1024) } }
'@)
        $values = @{}
        foreach ($line in $out) { if ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = $Matches[2] } }
        if (-not $values.ContainsKey('PEAK')) { throw "audit bench child failed: $($out -join "`n")" }
        $values.PeakMiB = [double]$values.PEAK / 1MB
        [pscustomobject]$values
    }
    $emulator = Start-TestEmulator -ArgumentList @('--latency-ms', "$LatencyMs", '--max-concurrency', "$Concurrency")
    try {
        $tenant = Invoke-Emulator $emulator -Method POST -Path '/_emulator/tenant' -Body @{
            managedIdentities = $Principals; assignments = $Assignments; criticalShare = 0.05; seed = 2026; prefix = 'bench'
        }
        Set-IdentityEnvironment $emulator 'IMDS'
        $graph = $emulator.BaseUrl
        $idle = & $run '0'
        Reset-EmulatorStats $emulator
        $ours = & $run @"
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$graph'
`$null = Get-IdentityToken
`$w = [Diagnostics.Stopwatch]::StartNew()
`$n = 0
Get-GraphAppRoleReport -Concurrency $Concurrency | ForEach-Object { `$n++ }
`$w.Stop()
'MS=' + `$w.Elapsed.TotalMilliseconds
'ROWS=' + `$n
"@
        $stats = Get-EmulatorStats $emulator
        $base = & $run @"
`$graph = '$graph'
`$token = (Invoke-RestMethod -Headers @{ Metadata = 'true' } -Uri "`$graph/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com").access_token
`$headers = @{ Authorization = "Bearer `$token" }
`$w = [Diagnostics.Stopwatch]::StartNew()
`$ids = [Collections.Generic.List[string]]::new()
`$uri = "`$graph/v1.0/servicePrincipals?```$filter=servicePrincipalType eq 'ManagedIdentity'&```$select=id,displayName&```$top=999"
while (`$uri) { `$page = Invoke-RestMethod -Headers `$headers -Uri `$uri; foreach (`$sp in `$page.value) { `$ids.Add(`$sp.id) }; `$uri = `$page.'@odata.nextLink' }
`$listMs = `$w.Elapsed.TotalMilliseconds
`$n = 0
foreach (`$id in `$ids | Select-Object -First $SequentialSample) {
    `$page = Invoke-RestMethod -Headers `$headers -Uri "`$graph/v1.0/servicePrincipals/`$id/appRoleAssignments"
    `$n += @(`$page.value).Count
}
'LISTMS=' + `$listMs
'SAMPLEMS=' + (`$w.Elapsed.TotalMilliseconds - `$listMs)
'PRINCIPALS=' + `$ids.Count
'SAMPLEROWS=' + `$n
"@
        # The report covers managed identities: the seed's administrator applications' own
        # Graph roles are not its rows.
        $adminApps = @((Invoke-Emulator $emulator -Path '/_emulator/seed').adminApps.objectId)
        $expected = @(Invoke-Emulator $emulator -Path '/_emulator/assignments' | ForEach-Object { $_ } | Where-Object { $adminApps -notcontains $_.principalId }).Count
    }
    finally {
        Clear-IdentityEnvironment
        Stop-TestEmulator $emulator
    }
    $p = [int]$base.PRINCIPALS
    $pages = [math]::Ceiling($p / 999)
    $fanOut = [math]::Ceiling($p / (20 * $Concurrency))
    $boundMs = ($pages + $fanOut) * $LatencyMs
    $oursMs = [double]$ours.MS
    $sequentialMs = [double]$base.LISTMS + [double]$base.SAMPLEMS * $p / [math]::Min($SequentialSample, $p)
    [pscustomobject]@{
        Principals = $p; Assignments = $tenant.assignments; ExpectedRows = $expected; Rows = [int]$ours.ROWS
        Ms = $oursMs; BoundMs = $boundMs; Pages = $pages; FanOut = $fanOut; LatencyMs = $LatencyMs; Concurrency = $Concurrency
        SequentialMs = $sequentialMs; SequentialSample = [math]::Min($SequentialSample, $p)
        PeakAboveIdleMiB = $ours.PeakMiB - $idle.PeakMiB
        Requests = $stats.requests.graph; Batches = $stats.requests.batches
        Model = "bound = (ceil($p / 999) pages + ceil($p / (20 x $Concurrency)) fan-out round trips) x $LatencyMs ms = $boundMs ms"
    }
}

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1')
if (-not $ModulePath) { $ModulePath = Get-TestModulePath }
$audit = Measure-AuditReport -ModulePath $ModulePath -Principals $Principals -Assignments $Assignments -LatencyMs $LatencyMs -Concurrency $Concurrency -SequentialSample $SequentialSample
Write-Host $audit.Model
Write-Host ('{0:N0} ms: {1:N2}x the modelled lower bound; sequential per-principal GETs {2:N0} ms: {3:N1}x slower' -f $audit.Ms, ($audit.Ms / $audit.BoundMs), $audit.SequentialMs, ($audit.SequentialMs / $audit.Ms))
$audit
