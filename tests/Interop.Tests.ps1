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

    It 'round-trips 500 random strings (quotes and backslashes anywhere, escapes first or last, control and non-ASCII characters)' {
        $random = [Random]::new(20261130)
        $alphabet = [char[]]('ab"\/ ' + "`n`t`r" + [char]0x1 + [char]0x1f + [char]0xe9 + [char]0x4e2d + [char]0x7f)
        for ($i = 0; $i -lt 500; $i++) {
            $length = $random.Next(0, 24)
            $chars = [char[]]::new($length)
            for ($j = 0; $j -lt $length; $j++) { $chars[$j] = $alphabet[$random.Next(0, $alphabet.Length)] }
            $text = [string]::new($chars)
            $json = [ManagedIdentity.Interop.Json]::Serialize(@{ s = $text; list = [string[]]@($text, 'plain') })
            $back = [ManagedIdentity.Interop.Json]::Parse($json)
            $back.s | Should -BeExactly $text -Because "sample $i $json"
            $back.list[0] | Should -BeExactly $text
            $back.list[1] | Should -BeExactly 'plain'
        }
    }

    It 'keeps order and the last value of a repeated name in objects with many properties (indexed past 16)' {
        $pairs = 1..40 | ForEach-Object { '"p' + $_ + '":' + $_ }
        $tree = [ManagedIdentity.Interop.Json]::ParseTree('{' + ($pairs -join ',') + ',"p3":"again","p40":null}')
        $tree.Count | Should -Be 40
        @($tree.Names) | Should -Be @(1..40 | ForEach-Object { "p$_" })
        $tree['p3'] | Should -Be 'again'
        $tree['p17'] | Should -Be 17
        $tree.Contains('p40') | Should -BeTrue
        $tree['p40'] | Should -BeNullOrEmpty
        $tree.Contains('p41') | Should -BeFalse
        $shown = [ManagedIdentity.Interop.Json]::ToPowerShell($tree)
        @($shown.psobject.Properties.Name).Count | Should -Be 40
        $shown.p3 | Should -Be 'again'
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
        @{ Text = '{"a":' }, @{ Text = '{"a" 1}' }, @{ Text = '[1,]' }, @{ Text = '"open' }, @{ Text = '{} extra' }, @{ Text = '"a\"' }, @{ Text = '["a\q"]' }
    ) {
        $err = $null
        try { $null = [ManagedIdentity.Interop.Json]::Parse($Text) } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.Exception.InnerException | Should -BeOfType [System.FormatException]
        $err.Exception.InnerException.Message | Should -Match 'not valid JSON at offset'
    }
}

Describe 'The interop layer''s own reading of engine answers' {
    It 'keeps objects it reads itself as JsonObject (no PowerShell member resolution) and turns them into the same PSCustomObjects on the way out' {
        $text = '{"b":1,"a":{"x":[{"y":"z"}],"n":null},"b":2}'
        $tree = [ManagedIdentity.Interop.Json]::ParseTree($text)
        $tree | Should -BeOfType [ManagedIdentity.Interop.JsonObject]
        @($tree.Names) | Should -Be @('b', 'a') -Because 'names keep their first position'
        $tree['b'] | Should -Be 2 -Because 'a repeated name keeps its last value'
        $tree['a'].Contains('n') | Should -BeTrue
        $tree['a']['n'] | Should -BeNullOrEmpty
        $tree['missing'] | Should -BeNullOrEmpty
        $shown = [ManagedIdentity.Interop.Json]::ToPowerShell($tree)
        $shown | Should -BeOfType [System.Management.Automation.PSCustomObject]
        @($shown.psobject.Properties.Name) | Should -Be @('b', 'a')
        $shown.a.x[0] | Should -BeOfType [System.Management.Automation.PSCustomObject]
        $shown.a.x[0].y | Should -Be 'z'
        ([ManagedIdentity.Interop.Json]::Parse($text) | ConvertTo-Json -Depth 5 -Compress) | Should -Be ($shown | ConvertTo-Json -Depth 5 -Compress)
    }

    It 'reads the engine''s UTC timestamps exactly as DateTimeOffset.Parse does, and leaves other forms to it' {
        $parse = [ManagedIdentity.Context].GetMethod('ParseUtc', [Reflection.BindingFlags]'NonPublic,Static')
        $random = [Random]::new(20261130)
        $samples = @('0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2024-02-29T12:34:56Z', '2026-11-30T10:00:00+01:00', '2026-11-30T10:00:00.5Z')
        $samples += 1..200 | ForEach-Object { [DateTimeOffset]::FromUnixTimeSeconds($random.Next(0, [int]::MaxValue) * 4L).ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture) }
        foreach ($text in $samples) {
            $expected = [DateTimeOffset]::Parse($text, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind)
            $parse.Invoke($null, @($text)) | Should -Be $expected -Because $text
        }
        foreach ($bad in '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-1a-01T00:00:00Z', '2026-11-30T24:00:00Z') {
            { $parse.Invoke($null, @($bad)) } | Should -Throw -Because "$bad is not a date"
        }
    }
}
