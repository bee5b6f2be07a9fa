# What tests/Bench.ps1 (Linux or Windows pwsh, every figure) and tests/Bench.Windows.ps1 (the
# Windows pwsh figures, run inside that pwsh) share: fresh processes timed the same way, the
# cold-start routes and their table, and the bulk-grant runs. PowerShell 7 only (the bench runs
# in pwsh 7.2+, never in Windows PowerShell 5.1).

Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1')

$script:Pwsh = Get-PwshPath

# Appended to every child script: its peak resident set, read the same way for every route: the
# kernel's VmHWM where there is /proc, else the process's PeakWorkingSet64 (Windows; under Wine,
# Wine fills it from the Wine process's VmHWM).
$script:PeakProbe = @'

$status = '/proc/self/status'
if ([Environment]::OSVersion.Platform -ne [PlatformID]::Win32NT -and [IO.File]::Exists($status)) {
    foreach ($line in [IO.File]::ReadAllLines($status)) { if ($line -match '^VmHWM:\s+(\d+)\s+kB') { 'PEAK=' + ([long]$Matches[1] * 1024) } }
}
else { 'PEAK=' + [Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64 }
'@

function Get-PeakProbe { $script:PeakProbe }

function Get-PeakSource {
    # How Measure-FreshPwsh reads a child's peak RSS on this machine, for the tables' notes.
    if (-not (Test-OnWindows)) { return 'the child''s VmHWM (/proc/self/status)' }
    $wine = $null
    try { $wine = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('Software\Wine') } catch { }
    if ($wine) { $wine.Dispose(); return 'the child''s PeakWorkingSet64, which Wine fills from the Linux VmHWM of the Wine process (its own loader and DLLs included, so the added figures over bare pwsh are what compare)' }
    'the child''s PeakWorkingSet64'
}

function Test-UnderWine {
    # True in a Windows process that Wine runs (Wine keeps its settings under HKLM\Software\Wine).
    if (-not (Test-OnWindows)) { return $false }
    try { $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('Software\Wine') } catch { return $false }
    if ($key) { $key.Dispose(); return $true }
    $false
}

function Get-Median([double[]] $Values) {
    $sorted = $Values | Sort-Object
    $n = $sorted.Count
    if ($n % 2) { $sorted[[int][math]::Floor($n / 2)] } else { ($sorted[$n / 2 - 1] + $sorted[$n / 2]) / 2 }
}

function Get-Spread([object[]] $Samples, [string] $Property) {
    $values = [double[]]@($Samples | ForEach-Object { [double]$_.$Property })
    [pscustomobject]@{ Median = Get-Median $values; Min = ($values | Measure-Object -Minimum).Minimum; Max = ($values | Measure-Object -Maximum).Maximum }
}

function Format-Ms([double] $Ms) { '{0:N0} ms' -f $Ms }
function Format-Range($Spread, [string] $Format) { ($Format -f $Spread.Median) + ' (' + ($Format -f $Spread.Min) + '-' + ($Format -f $Spread.Max) + ')' }

function Start-FreshPwsh {
    # Starts `pwsh -NoProfile -NonInteractive -c <script>` with its output redirected. Every child
    # starts as in a fresh Automation sandbox: an empty PowerShell cache folder (XDG_CACHE_HOME;
    # LOCALAPPDATA on Windows), so it replays no startup JIT profile. Sharing one would let each
    # child background-compile what the previous child (often another route) used, which biases
    # routes by their order.
    param([string] $Script, [hashtable] $Environment = @{})
    $info = [Diagnostics.ProcessStartInfo]::new($script:Pwsh)
    foreach ($a in '-NoProfile', '-NonInteractive', '-c', $Script) { $info.ArgumentList.Add($a) }
    $info.RedirectStandardOutput = $true; $info.RedirectStandardError = $true; $info.UseShellExecute = $false
    $cache = Join-Path ([IO.Path]::GetTempPath()) ('mi-bench-cache-' + [guid]::NewGuid().ToString('N'))
    if (Test-OnWindows) {
        $null = New-Item -ItemType Directory -Force $cache
        $info.Environment['LOCALAPPDATA'] = $cache
    }
    else {
        $null = New-Item -ItemType Directory -Force (Join-Path $cache 'powershell')
        $info.Environment['XDG_CACHE_HOME'] = $cache
    }
    foreach ($name in $Environment.Keys) { $info.Environment[$name] = $Environment[$name] }
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $process = [Diagnostics.Process]::Start($info)
    $stdout = $process.StandardOutput.ReadToEndAsync(); $stderr = $process.StandardError.ReadToEndAsync()
    # Bounded: a child that hangs fails the bench instead of stalling it.
    if (-not $process.WaitForExit(300000)) { $process.Kill(); throw "benchmark child did not exit within 300 s: $Script" }
    $process.WaitForExit(); $watch.Stop()
    Remove-Item -Recurse -Force $cache -ErrorAction SilentlyContinue
    [pscustomobject]@{ WallMs = $watch.Elapsed.TotalMilliseconds; ExitCode = $process.ExitCode; Stdout = $stdout.Result; Stderr = $stderr.Result }
}

function Measure-FreshPwsh {
    # Runs a script in a fresh pwsh; returns wall ms (the parent's view, start to exit) and the
    # child's own peak RSS (it prints PEAK=<bytes> as its last act), plus any KEY=VALUE lines it
    # printed.
    param([string] $Script, [hashtable] $Environment = @{})
    $child = Start-FreshPwsh ($Script + $script:PeakProbe) $Environment
    $values = @{ WallMs = $child.WallMs }
    foreach ($line in ($child.Stdout -split "`r?`n")) { if ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = $Matches[2] } }
    if ($child.ExitCode -ne 0 -or -not $values.ContainsKey('PEAK')) { throw "benchmark child failed: $($child.Stdout) $($child.Stderr)" }
    $values.PeakMiB = [double]$values.PEAK / 1MB
    [pscustomobject]$values
}

function Measure-Scenarios {
    # Runs every scenario once per round, interleaved, so drift on the machine touches them all
    # alike; returns each scenario's samples.
    param([System.Collections.Specialized.OrderedDictionary] $Scenarios, [int] $Runs)
    $samples = [ordered]@{}
    foreach ($name in $Scenarios.Keys) { $samples[$name] = [Collections.Generic.List[object]]::new() }
    for ($round = 1; $round -le $Runs; $round++) {
        Write-Host "  round $round of $Runs"
        foreach ($name in $Scenarios.Keys) { $samples[$name].Add((Measure-FreshPwsh $Scenarios[$name])) }
    }
    $samples
}

function Resolve-AzureIdentityFolder {
    # The folder holding Azure.Identity.dll and its dependencies, from the path given (that folder,
    # or one holding it as azure-identity/), or $null with a warning when it holds none.
    param([string] $Path)
    if (-not $Path) { return $null }
    foreach ($candidate in $Path, (Join-Path $Path 'azure-identity')) {
        if (Test-Path -LiteralPath (Join-Path $candidate 'Azure.Identity.dll')) { return (Resolve-Path -LiteralPath $candidate).ProviderPath }
    }
    Write-Warning "MANAGEDIDENTITY_BENCH_AZURE_IDENTITY='$Path' holds no Azure.Identity.dll: the Azure.Identity route is not measured."
    $null
}

# The cold-start routes both pwsh builds measure, in table order (Bench.ps1 adds its floors and
# the timed route).
$script:ColdRoutes = [ordered]@{
    bare      = 'bare pwsh -NoProfile -NonInteractive -c 1'
    empty     = 'Import-Module of an empty script module (PowerShell''s floor)'
    floor     = 'Import-Module of a one-cmdlet compiled module, then its no-op cmdlet (PowerShell''s floor for a first compiled command)'
    import    = 'Import-Module ManagedIdentity'
    dotsource = 'dot-source ManagedIdentity.ps1 (the same assembly without the manifest)'
    cold      = 'import -> Connect-Identity -Identity -> Get-IdentityToken'
    colddot   = 'dot-source -> Connect-Identity -Identity -> Get-IdentityToken'
    timed     = 'import -> Connect-Identity -Identity -> Get-IdentityToken with Stopwatch marks (the in-process figures below)'
    azure     = 'Azure.Identity + MSAL in pwsh, ManagedIdentityCredential.GetToken'
}

function Get-ColdRouteName { $script:ColdRoutes }

function Get-ColdRouteScript {
    # The scripts of the routes a runbook takes: bare, import, dot-source, cold token (imported and
    # dot-sourced) and, with -PeerFolder, the Azure.Identity route. The emulator's Automation
    # endpoint must be in the environment (Set-IdentityEnvironment).
    param([Parameter(Mandatory)] [string] $ModulePath, [Parameter(Mandatory)] [string] $BaseUrl, [string] $PeerFolder)
    # The cold route as a runbook runs it.
    $coldToken = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$BaseUrl'
`$null = Get-IdentityToken
"@
    $dotSource = ". '$(Join-Path $ModulePath 'ManagedIdentity.ps1')'"
    $scripts = [ordered]@{
        bare      = '1'
        import    = "Import-Module '$ModulePath'"
        # What `. ./ManagedIdentity/ManagedIdentity.ps1` costs: the same assembly, no manifest.
        dotsource = $dotSource
        cold      = $coldToken
        # The same cold path with the module dot-sourced: no manifest, as the Azure.Identity
        # route loads its assemblies without one.
        colddot   = $coldToken.Replace("Import-Module '$ModulePath'", $dotSource)
    }
    if ($PeerFolder) {
        # What the issue's authors ran (../shared/peers/azure-identity-token.ps1), from the given folder.
        $scripts.azure = @"
`$ErrorActionPreference = 'Stop'
foreach (`$a in 'System.ClientModel', 'Azure.Core', 'Microsoft.Identity.Client', 'Microsoft.IdentityModel.Abstractions', 'Azure.Identity') {
    [void][Reflection.Assembly]::LoadFrom([IO.Path]::Combine('$PeerFolder', "`$a.dll"))
}
`$credential = [Azure.Identity.ManagedIdentityCredential]::new()
`$context = [Azure.Core.TokenRequestContext]::new([string[]]@('https://graph.microsoft.com/.default'))
'PARTS=' + `$credential.GetToken(`$context, [Threading.CancellationToken]::None).Token.Split('.').Count
"@
    }
    $scripts
}

function Get-ColdStartTable {
    # The cold-start table from Measure-Scenarios' samples: each route's wall and peak RSS
    # (median, min-max), what it adds over bare pwsh, and that as a ratio to what the Azure.Identity
    # route adds. Returns Rows (in Get-ColdRouteName's order) and Added (route -> Wall, Peak).
    param([Parameter(Mandatory)] $Samples)
    $bare = @{ Wall = Get-Spread $Samples.bare WallMs; Peak = Get-Spread $Samples.bare PeakMiB }
    $added = @{}
    foreach ($name in $script:ColdRoutes.Keys) {
        if (-not $Samples.Contains($name)) { continue }
        $wall = Get-Spread $Samples[$name] WallMs; $peak = Get-Spread $Samples[$name] PeakMiB
        $added[$name] = [pscustomobject]@{ Wall = $wall.Median - $bare.Wall.Median; Peak = $peak.Median - $bare.Peak.Median }
    }
    $rows = [Collections.Generic.List[object]]::new()
    foreach ($name in $script:ColdRoutes.Keys) {
        if (-not $Samples.Contains($name)) {
            if ($name -eq 'azure') {
                $rows.Add([pscustomobject]@{ Route = $script:ColdRoutes[$name]; Wall = 'not measured: set MANAGEDIDENTITY_BENCH_AZURE_IDENTITY to a folder holding its assemblies'; AddedWall = ''; PeakRss = ''; AddedRss = ''; VsAzureIdentity = '' })
            }
            continue
        }
        $wall = Get-Spread $Samples[$name] WallMs; $peak = Get-Spread $Samples[$name] PeakMiB
        $isBare = $name -eq 'bare'
        $vsPeer = if ($isBare) { '' } elseif ($added.ContainsKey('azure') -and $added.azure.Wall -gt 0) { '{0:N2}x wall, {1:N2}x RSS' -f ($added[$name].Wall / $added.azure.Wall), ($added[$name].Peak / [math]::Max($added.azure.Peak, 0.1)) } else { 'peer not measured' }
        $rows.Add([pscustomobject]@{
                Route           = $script:ColdRoutes[$name]
                Wall            = Format-Range $wall '{0:N0}'
                AddedWall       = $(if ($isBare) { '-' } else { '{0:+#,0;-#,0;0} ms ({1:+0.0;-0.0;0} %)' -f $added[$name].Wall, (100 * $added[$name].Wall / $bare.Wall.Median) })
                PeakRss         = Format-Range $peak '{0:N1}'
                AddedRss        = $(if ($isBare) { '-' } else { '{0:+0.0;-0.0;0} MiB' -f $added[$name].Peak })
                VsAzureIdentity = $vsPeer
            })
    }
    [pscustomobject]@{ Rows = $rows; Added = $added; Bare = $bare }
}

function Get-ColdStartMarkdown {
    # The cold-start table's markdown rows (header included).
    param([object[]] $Rows)
    '| Route | Wall ms | Added wall | Peak RSS MiB | Added RSS | vs Azure.Identity |'
    '|---|---|---|---|---|---|'
    $Rows | ForEach-Object { "| $($_.Route) | $($_.Wall) | $($_.AddedWall) | $($_.PeakRss) | $($_.AddedRss) | $($_.VsAzureIdentity) |" }
}

# ---------------------------------------------------------------------------------------------
# Bulk grant: 10 roles x N identities against an emulator with latency and bounded concurrency,
# this module vs the seed script's approach vs the modelled lower bound.
# ---------------------------------------------------------------------------------------------

$script:BulkRoles = @('Application.Read.All', 'AuditLog.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Mail.Read', 'Mail.Send', 'Sites.Read.All', 'User.Read.All', 'Calendars.Read', 'Reports.Read.All')

# Appended to both bulk children: managed bytes allocated since `$allocated was taken, and the
# managed heap left after a full collection (what the run retains). Peak RSS alone cannot tell
# them apart: the .NET GC lets allocation reach its gen0 budget before it collects, and sizes
# that budget from the CPU's L3 cache.
$script:AllocationProbe = @'
'ALLOCATED=' + ([GC]::GetTotalAllocatedBytes($true) - $allocated)
'RETAINED=' + [GC]::GetTotalMemory($true)
'@

function Get-BulkRole { $script:BulkRoles }

function Get-KiBPerResult($Run) { [double]$Run.ALLOCATED / 1KB / [math]::Max(1, [double]$Run.RESULTS) }

function Start-BulkEmulator {
    param([int] $Identities, [int] $LatencyMs, [int] $Concurrency)
    $e = Start-TestEmulator -ArgumentList @('--latency-ms', "$LatencyMs", '--max-concurrency', "$Concurrency")
    try { $created = Invoke-Emulator $e -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = $Identities; prefix = 'bench-mi' } }
    catch { Stop-TestEmulator $e; throw }
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
        Expected = $Bulk.Identities.Count * $script:BulkRoles.Count; Present = $unique.Count; Duplicates = $mine.Count - $unique.Count
        Requests = $stats.requests.graph; Batches = $stats.requests.batches; Writes = $stats.requests.graphWrites
    }
}

function Measure-BulkGrant {
    # This module's bulk grant in a fresh pwsh (IMDS source): Grant-GraphAppRole of every role to
    # every identity, results consumed as they stream. Returns the child's figures (GRANTMS,
    # RESULTS, GRANTED, ALLOCATED, RETAINED, PeakMiB) and the emulator's Outcome.
    param([Parameter(Mandatory)] [string] $ModulePath, [int] $Identities, [int] $LatencyMs, [int] $Concurrency)
    $roleList = ($script:BulkRoles | ForEach-Object { "'$_'" }) -join ','
    $bulk = Start-BulkEmulator -Identities $Identities -LatencyMs $LatencyMs -Concurrency $Concurrency
    $idList = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-ids-$([guid]::NewGuid()).txt"
    try {
        Set-IdentityEnvironment $bulk.Emulator 'IMDS'
        Set-Content $idList ($bulk.Identities.id)
        Reset-EmulatorStats $bulk.Emulator
        $run = Measure-FreshPwsh @"
Import-Module '$ModulePath'
`$null = Connect-Identity -Identity -GraphEndpoint '$($bulk.Emulator.BaseUrl)'
`$ids = Get-Content '$idList'
`$allocated = [GC]::GetTotalAllocatedBytes(`$true)
`$w = [Diagnostics.Stopwatch]::StartNew()
`$count = 0; `$granted = 0
# Results are consumed as they stream (as a runbook writing its output would), not held.
`$ids | Grant-GraphAppRole -Permission $roleList -Confirm:`$false | ForEach-Object { `$count++; if (`$_.Status -eq 'Granted') { `$granted++ } }
`$w.Stop()
'GRANTMS=' + `$w.Elapsed.TotalMilliseconds
'RESULTS=' + `$count
'GRANTED=' + `$granted
$($script:AllocationProbe)
"@
        $run | Add-Member -NotePropertyName Outcome -NotePropertyValue (Get-BulkOutcome $bulk)
        $run
    }
    finally {
        Remove-Item $idList -ErrorAction SilentlyContinue
        Stop-TestEmulator $bulk.Emulator
    }
}

function Measure-SeedBulkGrant {
    # What the seed script does, in a fresh pwsh: IMDS token with Invoke-RestMethod, display-name
    # look-up per identity (first match), then one POST per permission, sequentially.
    param([int] $Identities, [int] $LatencyMs, [int] $Concurrency)
    $roleList = ($script:BulkRoles | ForEach-Object { "'$_'" }) -join ','
    $bulk = Start-BulkEmulator -Identities $Identities -LatencyMs $LatencyMs -Concurrency $Concurrency
    $nameList = Join-Path ([IO.Path]::GetTempPath()) "mi-bench-names-$([guid]::NewGuid()).txt"
    try {
        Reset-EmulatorStats $bulk.Emulator
        Set-Content $nameList ($bulk.Identities.displayName)
        $run = Measure-FreshPwsh @"
`$graph = '$($bulk.Emulator.BaseUrl)'
`$token = (Invoke-RestMethod -Headers @{ Metadata = 'true' } -Uri "`$graph/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com").access_token
`$headers = @{ Authorization = "Bearer `$token" }
`$allocated = [GC]::GetTotalAllocatedBytes(`$true)
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
$($script:AllocationProbe)
"@
        $run | Add-Member -NotePropertyName Outcome -NotePropertyValue (Get-BulkOutcome $bulk)
        $run
    }
    finally {
        Remove-Item $nameList -ErrorAction SilentlyContinue
        Stop-TestEmulator $bulk.Emulator
    }
}

function Get-BulkLowerBound {
    # The modelled lower bound: the writes travel 20 per $batch, $Concurrency batches in flight,
    # each round trip costs the latency.
    param([int] $Identities, [int] $LatencyMs, [int] $Concurrency)
    $batches = [math]::Ceiling($Identities * $script:BulkRoles.Count / 20)
    [pscustomobject]@{ Batches = $batches; Ms = [math]::Ceiling($batches / $Concurrency) * $LatencyMs }
}



function Add-BenchSection {
    # Appends a section to results.md and a property to results.json in $OutputDirectory (written
    # by Bench.ps1 first), with LF line ends whichever pwsh writes them.
    param([Parameter(Mandatory)] [string] $OutputDirectory, [Parameter(Mandatory)] [string] $Property,
        [Parameter(Mandatory)] [AllowEmptyString()] [string[]] $Markdown, [Parameter(Mandatory)] $Value)
    $utf8 = [Text.UTF8Encoding]::new($false)
    $md = Join-Path $OutputDirectory 'results.md'
    [IO.File]::AppendAllText($md, "`n" + (($Markdown -join "`n") -replace "`r`n", "`n") + "`n", $utf8)
    $jsonPath = Join-Path $OutputDirectory 'results.json'
    $json = if (Test-Path -LiteralPath $jsonPath) { Get-Content -Raw -LiteralPath $jsonPath | ConvertFrom-Json } else { [pscustomobject]@{} }
    $json | Add-Member -NotePropertyName $Property -NotePropertyValue $Value -Force
    [IO.File]::WriteAllText($jsonPath, ((ConvertTo-Json -InputObject $json -Depth 6) -replace "`r`n", "`n") + "`n", $utf8)
}
Export-ModuleMember -Function *
