# No command or alias the built module exports may share a name with one exported by the modules
# that sit beside it in Automation accounts and admin sessions (issue 8 item 4): in PowerShell an
# alias wins over a function or cmdlet of the same name, and the last module imported wins between
# commands, so a clash silently runs someone else's code. The peer lists are test data taken from
# the peers' published manifests (tests/data/peer-commands/*.txt; source and version at the top of
# each file).

BeforeDiscovery {
    $script:PeerFiles = @(Get-ChildItem (Join-Path $PSScriptRoot 'data/peer-commands') -Filter *.txt | Sort-Object Name |
            ForEach-Object { @{ Module = $_.BaseName; Path = $_.FullName } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force

    function Read-PeerCommandList([string] $Path) {
        @(Get-Content $Path | ForEach-Object { $_.Trim() } | Where-Object { $_ -and -not $_.StartsWith('#') })
    }

    # What the built module exports (imported here, so the test runs on every edition the
    # suite runs on; removed again afterwards).
    $module = Import-Module (Get-TestModulePath) -PassThru -Force -ErrorAction Stop
    $script:Exports = @($module.ExportedCommands.Values | ForEach-Object { [pscustomobject]@{ Kind = [string]$_.CommandType; Name = $_.Name } })
}

AfterAll {
    Remove-Module ManagedIdentity -Force -ErrorAction SilentlyContinue
}

Describe 'Peer command lists (test data)' {
    It 'covers every module issue 8 names' {
        $names = (Get-ChildItem (Join-Path $PSScriptRoot 'data/peer-commands') -Filter *.txt).BaseName
        foreach ($expected in 'Microsoft.Graph.Authentication', 'Az.Accounts', 'Az.Resources', 'Microsoft.Entra', 'Microsoft.Entra.Authentication', 'AzureAD') {
            $names | Should -Contain $expected
        }
    }

    It '<Module>: names its source and holds only Verb-Noun names' -ForEach $PeerFiles {
        $header = @(Get-Content $Path | Where-Object { $_.StartsWith('#') }) -join "`n"
        $header | Should -Match 'Source: \S+'
        $names = Read-PeerCommandList $Path
        $names.Count | Should -BeGreaterThan 5
        $names | Where-Object { $_ -notmatch '^[A-Za-z]+-[A-Za-z0-9]+$' } | Should -BeNullOrEmpty
    }

    It 'would catch the known clash: Microsoft.Graph.Authentication exports the alias Invoke-GraphRequest' {
        Read-PeerCommandList (Join-Path $PSScriptRoot 'data/peer-commands/Microsoft.Graph.Authentication.txt') | Should -Contain 'Invoke-GraphRequest'
    }
}

Describe 'Command names of the built module' {
    It 'exports the module''s commands (the export list was read)' {
        $Exports.Count | Should -BeGreaterThan 5
        $Exports.Name | Should -Contain 'Get-IdentityToken'
    }

    It 'shares no command or alias name with <Module>' -ForEach $PeerFiles {
        $peer = [Collections.Generic.HashSet[string]]::new([string[]](Read-PeerCommandList $Path), [StringComparer]::OrdinalIgnoreCase)
        $clashes = @($Exports | Where-Object { $peer.Contains($_.Name) } | ForEach-Object { "$($_.Kind) $($_.Name)" })
        $clashes | Should -BeNullOrEmpty -Because "$Module exports these names too, and whichever is resolved first (aliases always win) silently replaces the other"
    }
}
