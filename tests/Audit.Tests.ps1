#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Get-GraphAppRoleReport / Export-GraphAppRoleReport on the built module against the emulator's
# generated tenant (POST /_emulator/tenant): rows are checked against the emulator's own
# assignments (/_emulator/assignments), under injected faults and throttling.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    # Until the module ships its format files, load the audit view from the source tree.
    Update-FormatData -AppendPath (Join-Path $PSScriptRoot '../powershell/ManagedIdentity/formats/Audit.format.ps1xml')
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:GraphUrl = $Emulator.BaseUrl
    $script:Graph = $Seed.resources | Where-Object alias -EQ 'Graph'
    $script:RoleValue = @{}
    foreach ($r in $Seed.resources) { foreach ($role in $r.roles) { $RoleValue[$role.id] = $role.value } }
    $script:Critical = @('Application.ReadWrite.All', 'AppRoleAssignment.ReadWrite.All')
    $script:Tenant = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/tenant' -Body @{
        managedIdentities = 400; applications = 100; assignments = 1600; criticalShare = 0.1; seed = 14; prefix = 'audit'
    }
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "mi-audit-$([guid]::NewGuid().ToString('N'))"
    New-Item -ItemType Directory -Path $Work | Out-Null

    function Get-EmulatorAssignments { Invoke-Emulator $Emulator -Path '/_emulator/assignments' | ForEach-Object { $_ } }
    function Get-Key($Row) { "$($Row.IdentityId)|$($Row.ResourceId)|$($Row.PermissionId)|$($Row.AssignmentId)".ToLowerInvariant() }
    function Get-EmulatorKey($A) { "$($A.principalId)|$($A.resourceId)|$($A.appRoleId)|$($A.id)".ToLowerInvariant() }

    Set-IdentityEnvironment $Emulator 'IMDS'
    Connect-Identity -Identity -GraphEndpoint $GraphUrl | Out-Null
}

AfterAll {
    Clear-EmulatorFaults $Emulator
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
    if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work }
}

Describe 'The generated tenant' {
    It 'holds exactly the requested assignments, a share of them critical' {
        $Tenant.assignments | Should -Be 1600
        # Only the generated tenant's principals: not the seed's identities, nor its administrator
        # applications (which hold Graph roles of their own).
        $seeded = @($Seed.identities.objectId) + @($Seed.adminApps.objectId)
        $all = @(Get-EmulatorAssignments | Where-Object { $seeded -notcontains $_.principalId })
        $all.Count | Should -Be 1600
        $critical = @($all | Where-Object { $Critical -contains $RoleValue[$_.appRoleId] })
        $critical.Count | Should -Be $Tenant.criticalAssignments
        $critical.Count | Should -BeGreaterThan 80
    }
}

Describe 'Get-GraphAppRoleReport' {
    It 'returns every assignment of every principal exactly once under 5 % faults and throttling' {
        Add-EmulatorFault $Emulator @{ target = 'batchItem'; kind = 'status'; status = 429; retryAfter = '0.05'; probability = 0.05 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'status'; status = 503; retryAfter = '0.05'; probability = 0.05 }
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'reset'; probability = 0.02 }
        # A token bucket that the 4 concurrent batches overrun in bursts (20 ms latency per request).
        Set-EmulatorConfig $Emulator @{ latencyMs = 20; throttle = @{ capacity = 100; refillPerSec = 3000 } }
        Reset-EmulatorStats $Emulator
        try {
            $rows = @(Get-GraphAppRoleReport -PrincipalType All -ErrorVariable failed)
            $stats = Get-EmulatorStats $Emulator
        } finally {
            Clear-EmulatorFaults $Emulator
            Set-EmulatorConfig $Emulator @{ latencyMs = 0; throttle = $null }
        }
        $failed.Count | Should -Be 0
        $expected = @(Get-EmulatorAssignments | ForEach-Object { Get-EmulatorKey $_ } | Sort-Object)
        $actual = @($rows | ForEach-Object { Get-Key $_ } | Sort-Object)
        $actual.Count | Should -Be $expected.Count
        @($actual | Select-Object -Unique).Count | Should -Be $actual.Count
        Compare-Object $expected $actual | Should -BeNullOrEmpty
        # The faults really fired (otherwise this test proves nothing): failed envelopes, and
        # more batch items than one read per principal, page and resource (the retries).
        @($stats.log | Where-Object { $_.status -ge 429 }).Count | Should -BeGreaterThan 0
        $minimum = @($Seed.identities).Count + @($Seed.resources).Count + 500 + 1 + 3
        $stats.requests.batchItems | Should -BeGreaterThan $minimum
    }

    It 'covers managed identities by default, with names, ARM resource ids and resolved permissions' {
        $rows = @(Get-GraphAppRoleReport)
        $rows[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.AppRoleReportRow'
        @($rows.PrincipalType | Select-Object -Unique) | Should -Be @('ManagedIdentity')
        $generated = @($rows | Where-Object IdentityName -Like 'audit-mi-*')
        $generatedIds = [Collections.Generic.HashSet[string]]::new([string[]]@($generated.IdentityId), [StringComparer]::OrdinalIgnoreCase)
        $expected = @(Get-EmulatorAssignments | Where-Object { $generatedIds.Contains($_.principalId) })
        $generated.Count | Should -Be $expected.Count
        @($rows | Where-Object IdentityName -Like 'audit-app-*').Count | Should -Be 0
        foreach ($row in $generated | Select-Object -First 50) {
            $row.ArmResourceId | Should -Match "^/subscriptions/.+/$([regex]::Escape($row.IdentityName))$"
            $row.Permission | Should -Be $RoleValue[$row.PermissionId]
            $row.Resource | Should -Not -BeNullOrEmpty
            $row.CreatedDateTime | Should -Match '^20\d\d-'
            $row.AssignmentId | Should -Not -BeNullOrEmpty
        }
    }

    It 'applies the embedded risk table (stated default Medium for unlisted permissions)' {
        $rows = @(Get-GraphAppRoleReport -PrincipalType All)
        $rows.Count | Should -BeGreaterThan 1600
        # Every row checked; one assertion over the rows that disagree (each named), so the check
        # costs one Should instead of one per row (seconds in a Windows pwsh under Wine).
        $wrong = @(foreach ($row in $rows) {
            $expected = switch -Regex ($row.Permission) {
                '^(Application\.ReadWrite\.All|AppRoleAssignment\.ReadWrite\.All|Directory\.ReadWrite\.All)$' { 'Critical' }
                '^(Mail\.Send|Mail\.ReadWrite|Mail\.Read|User\.ReadWrite\.All|Group\.ReadWrite\.All|Sites\.ReadWrite\.All|Sites\.Read\.All|Sites\.FullControl\.All|Files\.Read\.All|Exchange\.ManageAsApp|full_access_as_app)$' { 'High' }
                '^(Reports\.Read\.All)$' { 'Low' }
                default { 'Medium' }
            }
            if ($row.RiskLevel -cne $expected) { "$($row.Permission): $($row.RiskLevel), expected $expected" }
        })
        $wrong | Should -BeNullOrEmpty
        $summary = @(Get-GraphAppRoleReport -PrincipalType All -Summary)
        $summary.RiskLevel | Should -Be @('Critical', 'High', 'Medium', 'Low')
        $summary[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.AppRoleRiskSummary'
        foreach ($s in $summary) {
            $mine = @($rows | Where-Object RiskLevel -EQ $s.RiskLevel)
            $s.Permissions | Should -Be $mine.Count
            $s.Identities | Should -Be @($mine.IdentityId | Select-Object -Unique).Count
        }
    }

    It 'applies a user risk table over the embedded one' {
        $table = Join-Path $Work 'risk.json'
        '{"default": "Low", "levels": {"Critical": ["Mail.Send"], "Low": ["Application.ReadWrite.All"]}}' | Set-Content -Path $table
        $rows = @(Get-GraphAppRoleReport -PrincipalType All -RiskTable $table)
        @($rows | Where-Object Permission -EQ 'Mail.Send' | Where-Object RiskLevel -NE 'Critical').Count | Should -Be 0
        @($rows | Where-Object Permission -EQ 'Mail.Send').Count | Should -BeGreaterThan 0
        @($rows | Where-Object Permission -EQ 'Application.ReadWrite.All' | Where-Object RiskLevel -NE 'Low').Count | Should -Be 0
        @($rows | Where-Object Permission -EQ 'AppRoleAssignment.ReadWrite.All' | Where-Object RiskLevel -NE 'Critical').Count | Should -Be 0
        @($rows | Where-Object Permission -EQ 'Directory.Read.All' | Where-Object RiskLevel -NE 'Medium').Count | Should -Be 0
        @($rows | Where-Object Permission -EQ 'Calendars.Read' | Where-Object RiskLevel -NE 'Medium').Count | Should -Be 0
    }

    It 'refuses a malformed risk table with ManagedIdentity.InvalidArgument' {
        $table = Join-Path $Work 'bad-risk.json'
        '{"levels": {"Severe": ["Mail.Send"]}}' | Set-Content -Path $table
        { Get-GraphAppRoleReport -RiskTable $table } | Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument*'
    }

    It 'reports drift against a baseline: Unchanged, Added and Removed rows' {
        $rows = @(Get-GraphAppRoleReport | Where-Object IdentityName -Like 'audit-mi-*' | Sort-Object IdentityName, Permission)
        $kept = @($rows | Select-Object -First 20)
        $baseline = @($kept | ForEach-Object { @{ Identity = $_.IdentityName; Resource = $_.ResourceAppId; Permissions = @($_.Permission) } })
        $baseline += @{ Identity = $kept[0].ArmResourceId; Resource = 'Graph'; Permissions = @('RoleManagement.ReadWrite.Directory') }
        $file = Join-Path $Work 'baseline.json'
        ConvertTo-Json -InputObject $baseline -Depth 4 | Set-Content -Path $file
        $drift = @(Get-GraphAppRoleReport -Baseline $file)
        $unchanged = @($drift | Where-Object Drift -EQ 'Unchanged')
        @($unchanged | ForEach-Object AssignmentId | Sort-Object) | Should -Be @($kept.AssignmentId | Sort-Object)
        $removed = @($drift | Where-Object Drift -EQ 'Removed')
        $removed.Count | Should -Be 1
        $removed[0].Permission | Should -Be 'RoleManagement.ReadWrite.Directory'
        $removed[0].RiskLevel | Should -Be 'Critical'
        @($drift | Where-Object Drift -EQ 'Added').Count | Should -Be ($drift.Count - 21)
        @($drift | Where-Object { -not $_.Drift }).Count | Should -Be 0
    }

    It 'round-trips CSV and JSON exports with a stable column order; a JSON export is a baseline' {
        $rows = @(Get-GraphAppRoleReport | Sort-Object IdentityName, Resource, Permission)
        $columns = 'IdentityName', 'IdentityId', 'IdentityAppId', 'PrincipalType', 'ArmResourceId', 'Resource', 'ResourceId',
            'ResourceAppId', 'Permission', 'PermissionId', 'RiskLevel', 'AssignmentId', 'CreatedDateTime', 'Drift'
        $csv = Join-Path $Work 'report.csv'
        $json = Join-Path $Work 'report.json'
        $rows | Export-GraphAppRoleReport -Path $csv | Should -BeOfType ([IO.FileInfo])
        $rows | Export-GraphAppRoleReport -Path $json | Out-Null
        (Get-Content -Path $csv -TotalCount 1) | Should -Be (($columns | ForEach-Object { '"' + $_ + '"' }) -join ',')
        # CSV with a UTF-8 BOM (Excel on Windows needs it for non-ASCII names), JSON without.
        $csvBytes = [IO.File]::ReadAllBytes($csv)
        @($csvBytes[0..3]) | Should -Be @(0xEF, 0xBB, 0xBF, [byte][char]'"')
        ([IO.File]::ReadAllBytes($json))[0] | Should -Be ([byte][char]'[')
        $fromCsv = @(Import-Csv -Path $csv)
        $fromJson = @(Get-Content -Raw -Path $json | ConvertFrom-Json)
        $fromCsv.Count | Should -Be $rows.Count
        $fromJson.Count | Should -Be $rows.Count
        @($fromJson[0].PSObject.Properties.Name) | Should -Be $columns
        # Each row as one line of its columns' text, compared whole (fast, and a diff names the row).
        function Get-Line($Row) {
            @(foreach ($c in $columns) {
                $v = $Row.$c
                # ConvertFrom-Json turns ISO dates into DateTime: compare in the export's form.
                if ($v -is [datetime]) { $v = $v.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'") }
                if ($null -eq $v) { '' } else { [string]$v }
            }) -join '|'
        }
        $want = @($rows | ForEach-Object { Get-Line $_ })
        @($fromCsv | ForEach-Object { Get-Line $_ }) | Should -Be $want
        @($fromJson | ForEach-Object { Get-Line $_ }) | Should -Be $want
        @($want | Where-Object { $_ -match '\|Microsoft Graph\|' }).Count | Should -BeGreaterThan 100
        # Same input, same bytes (diffs in git show only real changes).
        $again = Join-Path $Work 'again.csv'
        $rows | Export-GraphAppRoleReport -Path $again | Out-Null
        (Get-FileHash $again).Hash | Should -Be (Get-FileHash $csv).Hash
        $drift = @(Get-GraphAppRoleReport -Baseline $json)
        @($drift | Where-Object Drift -NE 'Unchanged').Count | Should -Be 0
        $drift.Count | Should -Be $rows.Count
    }

    It 'shows rows grouped by identity with the ByIdentity view' {
        $text = Get-GraphAppRoleReport | Where-Object IdentityName -Like 'audit-mi-0000*' | Sort-Object IdentityName |
            Format-Table -View ByIdentity | Out-String -Width 200
        $text | Should -Match 'Identity: audit-mi-00001  \(ManagedIdentity, /subscriptions/'
        $text | Should -Match 'RiskLevel\s+Resource\s+Permission'
    }
}

Describe 'Ctrl+C in the middle of a report' {
    It 'stops the run: state Stopped, partial output, and no Graph request after the stop' {
        Set-EmulatorConfig $Emulator @{ latencyMs = 150 }
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($ModulePath, $Url)
                    Import-Module $ModulePath
                    Connect-Identity -Identity -GraphEndpoint $Url | Out-Null
                    Get-GraphAppRoleReport -PrincipalType All -Concurrency 1
                }).AddArgument((Get-TestModulePath)).AddArgument($GraphUrl)
            $output = New-Object 'System.Management.Automation.PSDataCollection[psobject]'
            $async = $ps.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]$null, $output)
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ($output.Count -eq 0 -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $output.Count | Should -BeGreaterThan 0 -Because 'the report must have started streaming'
            $async.IsCompleted | Should -BeFalse -Because 'the report must still be running when it is stopped'
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $total = @(Get-EmulatorAssignments).Count
            $output.Count | Should -BeLessThan $total
            # A request already on the wire may still land; after that the engine sends nothing.
            Start-Sleep -Milliseconds 500
            $before = (Get-EmulatorStats $Emulator).requests.graph
            Start-Sleep -Milliseconds 800
            (Get-EmulatorStats $Emulator).requests.graph | Should -Be $before
        }
        finally {
            $ps.Dispose()
            Set-EmulatorConfig $Emulator @{ latencyMs = 0 }
        }
    }
}

Describe 'The HTML report' {
    BeforeAll {
        $hostile = "<script>alert('x')</script> `"Ünïcødé`" & O'Brien"
        $script:HostileTenant = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/tenant' -Body @{
            managedIdentities = 3; assignments = 9; seed = 99; prefix = $hostile; criticalShare = 0.5
        }
        $script:Html = Join-Path $Work 'report.html'
        $script:Rows = @(Get-GraphAppRoleReport -HtmlPath $Html)
        $script:Text = Get-Content -Raw -Path $Html -Encoding utf8
    }

    It 'escapes hostile display names and loads nothing from the network' {
        @($Rows | Where-Object IdentityName -Like '<script>*').Count | Should -Be 9
        $Text | Should -Not -Match '<script'
        $Text | Should -Match ([regex]::Escape('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;Ünïcødé&quot; &amp; O&#39;Brien'))
        $Text | Should -Not -Match '(src|href)\s*='
        $Text | Should -Not -Match 'https?://(?!www\.w3\.org/2000/svg)'
        $Text | Should -Match '<svg'
    }

    It 'holds the summary, a table per risk level and the chart' {
        $Text | Should -Match 'Summary by risk level'
        foreach ($level in 'Critical', 'High', 'Medium', 'Low') { $Text | Should -Match "id=`"$level`"" }
        $Text | Should -Match 'Permissions per identity'
    }

    # LinuxOnly: it drives the Linux Chromium package (/usr/bin/chromium) with file:// paths.
    It 'renders in headless Chromium with the summary visible' -Tag 'LinuxOnly' {
        $chromium = @('/usr/bin/chromium', '/usr/bin/chromium-browser') | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $chromium) {
            Set-ItResult -Skipped -Because 'headless Chromium is not installed (apt-get install chromium)'
            return
        }
        $profileDir = Join-Path $Work "chromium-$([guid]::NewGuid().ToString('N'))"
        $common = @('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', "--user-data-dir=$profileDir")
        $url = "file://$Html"
        $dom = (& $chromium @common '--dump-dom' $url 2>$null) -join "`n"
        $dom | Should -Match 'Summary by risk level'
        $dom | Should -Not -Match '<script>alert'
        $png = Join-Path $Work 'report.png'
        & $chromium @common "--screenshot=$png" '--window-size=1200,1400' $url 2>$null | Out-Null
        Test-Path $png | Should -BeTrue
        (Get-Item $png).Length | Should -BeGreaterThan 10000
        # The summary's counts in the rendered DOM equal the report's rows.
        $critical = @($Rows | Where-Object RiskLevel -EQ 'Critical').Count
        $dom | Should -Match "Critical</td><td>$critical</td>"
    }
}
