#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# The interop assembly's JSON codec: the same behaviour in Windows PowerShell 5.1 and PowerShell 7.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
}

Describe 'ManagedIdentity.Interop.Json' {
    It 'parses objects into PSCustomObjects, arrays into arrays, numbers into long or double' {
        $o = [ManagedIdentity.Interop.Json]::Parse('{"a":[1,2.5,"x\u00e9\n\"q\""],"b":{"c":null,"d":true},"e":[],"f":-7}')
        $o | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $o.a[0] | Should -BeOfType [long]
        $o.a[1] | Should -BeOfType [double]
        $o.a[2] | Should -Be "x$([char]0xe9)`n`"q`""
        $o.b.c | Should -BeNullOrEmpty
        $o.b.d | Should -BeTrue
        @($o.e).Count | Should -Be 0
        $o.f | Should -Be -7
    }

    It 'round-trips strings with quotes, backslashes, control characters and non-ASCII text' {
        $text = "O'Brien `"quoted`" \path\ tab`t line`n $([char]0x1) $([char]0x4e2d)"
        $json = [ManagedIdentity.Interop.Json]::Serialize(@{ name = $text; list = [string[]]@('one'); n = [uint64]18446744073709551615; ok = $false })
        $back = [ManagedIdentity.Interop.Json]::Parse($json)
        $back.name | Should -BeExactly $text
        @($back.list) | Should -Be @('one')
        $back.ok | Should -BeFalse
        $json | Should -Match '"n":18446744073709551615'
    }

    It 'parses documents larger than Windows PowerShell 5.1''s 2 MB ConvertFrom-Json limit' {
        $items = 1..50000 | ForEach-Object { '{"Identity":"identity-' + $_ + '","Status":"Granted"}' }
        $json = '{"events":[' + ($items -join ',') + '],"done":true}'
        $json.Length | Should -BeGreaterThan 2MB
        $parsed = [ManagedIdentity.Interop.Json]::Parse($json)
        $parsed.events.Count | Should -Be 50000
        $parsed.events[49999].Identity | Should -Be 'identity-50000'
    }

    It 'rejects malformed input with a FormatException' -ForEach @(
        @{ Text = '{"a":' }, @{ Text = '{"a" 1}' }, @{ Text = '[1,]' }, @{ Text = '"open' }, @{ Text = '{} extra' }
    ) {
        $err = $null
        try { $null = [ManagedIdentity.Interop.Json]::Parse($Text) } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.Exception.InnerException | Should -BeOfType [System.FormatException]
        $err.Exception.InnerException.Message | Should -Match 'not valid JSON at offset'
    }
}
