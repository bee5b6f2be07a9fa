<#
.SYNOPSIS
    Runs Pester test files in this pwsh and writes the counts to a JSON file: the Windows test
    leg (build.ps1 Invoke-WindowsTestLeg) starts it in the Windows pwsh, whose console output
    comes back merged and unstructured, so the counts travel in the file.
#>
param(
    [Parameter(Mandatory)] [string[]] $Path,
    [Parameter(Mandatory)] [string] $ResultPath,
    [string[]] $ExcludeTag = @('LinuxOnly')
)
$ErrorActionPreference = 'Stop'
$summary = [ordered]@{ passed = 0; failed = 1; failures = @('the Pester run did not finish') }
try {
    Import-Module Pester -MinimumVersion 5.5.0
    $config = New-PesterConfiguration
    $config.Run.Path = $Path
    $config.Run.PassThru = $true
    # -File passes a list as one string: 'LinuxOnly,NotUnderWine'.
    $config.Filter.ExcludeTag = @($ExcludeTag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
    $config.Output.Verbosity = 'Normal'
    $result = Invoke-Pester -Configuration $config
    $failures = @($result.Failed | ForEach-Object { $_.ExpandedPath }) +
        @($result.FailedBlocks | ForEach-Object { "block: $($_.ExpandedPath)" }) +
        @($result.FailedContainers | ForEach-Object { "file: $($_.Item)" })
    $summary = [ordered]@{
        passed   = $result.PassedCount
        failed   = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
        skipped  = $result.SkippedCount
        notRun   = $result.NotRunCount
        failures = $failures
        # Where the file's time goes, for whoever reads out/windows/logs/<file>.json (the leg
        # itself prints only the counts and the file's wall time).
        slowest  = @($result.Tests | Sort-Object Duration -Descending | Select-Object -First 5 |
                ForEach-Object { '{0:N1} s {1}' -f $_.Duration.TotalSeconds, $_.ExpandedPath })
        seconds  = [Math]::Round($result.Duration.TotalSeconds, 1)
    }
}
catch { $summary.failures = @("the Pester run failed: $_") }
finally {
    [IO.File]::WriteAllText($ResultPath, (ConvertTo-Json -InputObject $summary -Depth 4), [Text.UTF8Encoding]::new($false))
}
