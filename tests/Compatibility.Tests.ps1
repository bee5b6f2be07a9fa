#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Every module script must parse and run on Windows PowerShell 5.1: no PowerShell 7-only syntax
# (ternary, ??, ??=, ?. / ?[], && / || chains, clean blocks) and no 7-only parameters. The Pester
# suite itself runs on 5.1 too (CI: shell: powershell), so the test files and their shared helpers
# are held to the same rules, plus the 7-only variables and .NET Core-only APIs found here.

BeforeDiscovery {
    $root = Split-Path $PSScriptRoot -Parent
    $script:Scripts = @(Get-ChildItem (Join-Path $root 'powershell/ManagedIdentity') -Recurse -Include *.ps1, *.psm1, *.psd1 |
            ForEach-Object { @{ Path = $_.FullName; Name = $_.FullName.Substring($root.Length + 1) } })
    # Every test file and helper Pester runs; the bench (Bench.ps1, Bench.Windows.ps1 and their
    # BenchHelpers.psm1) runs only under build.ps1, in PowerShell 7.2+.
    $script:TestScripts = @(Get-ChildItem (Join-Path $root 'tests') -Recurse -Include *.ps1, *.psm1 | Where-Object Name -NotIn 'Bench.ps1', 'Bench.Windows.ps1', 'BenchHelpers.psm1' |
            ForEach-Object { @{ Path = $_.FullName; Name = $_.FullName.Substring($root.Length + 1) } })
}

BeforeAll {
    function Find-PowerShell7Syntax {
        param([string] $Text)
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Text, [ref]$tokens, [ref]$errors)
        $found = [System.Collections.Generic.List[string]]::new()
        foreach ($e in $errors) { $found.Add("parse error: $($e.Message)") }
        $sevenOnlyParameters = @{
            'ConvertFrom-Json' = 'AsHashtable', 'Depth', 'NoEnumerate'
            'ForEach-Object'   = 'Parallel', 'ThrottleLimit', 'AsJob'
            'Get-Content'      = 'AsByteStream'
            'Join-Path'        = 'AdditionalChildPath'
            'Invoke-RestMethod' = 'SkipHttpErrorCheck', 'StatusCodeVariable', 'ResponseHeadersVariable', 'Authentication', 'Token'
            'Invoke-WebRequest' = 'SkipHttpErrorCheck', 'Authentication', 'Token'
            'Test-Json'        = '*'
        }
        $nodes = $ast.FindAll({ $true }, $true)
        foreach ($node in $nodes) {
            $type = $node.GetType().Name
            if ($type -eq 'TernaryExpressionAst') { $found.Add("ternary operator at line $($node.Extent.StartLineNumber)") }
            if ($type -eq 'PipelineChainAst') { $found.Add("&& / || pipeline chain at line $($node.Extent.StartLineNumber)") }
            if ($type -eq 'BinaryExpressionAst' -and "$($node.Operator)" -eq 'QuestionQuestion') { $found.Add("?? operator at line $($node.Extent.StartLineNumber)") }
            if ($type -eq 'AssignmentStatementAst' -and "$($node.Operator)" -eq 'QuestionQuestionEquals') { $found.Add("??= operator at line $($node.Extent.StartLineNumber)") }
            if (($type -eq 'MemberExpressionAst' -or $type -eq 'InvokeMemberExpressionAst' -or $type -eq 'IndexExpressionAst') -and $node.PSObject.Properties['NullConditional'] -and $node.NullConditional) {
                $found.Add("null-conditional access at line $($node.Extent.StartLineNumber)")
            }
            if ($type -eq 'NamedBlockAst' -and "$($node.BlockKind)" -eq 'Clean') { $found.Add("clean block at line $($node.Extent.StartLineNumber)") }
            if ($type -eq 'CommandAst') {
                $name = $node.GetCommandName()
                if ($name -eq 'Join-Path') {
                    # Join-Path's third positional argument binds to -AdditionalChildPath (7 only).
                    $binding = [System.Management.Automation.Language.StaticParameterBinder]::BindCommand($node, $true)
                    if ($binding.BoundParameters.ContainsKey('AdditionalChildPath')) { $found.Add("Join-Path with more than one child path (PowerShell 7 only) at line $($node.Extent.StartLineNumber)") }
                }
                if ($name -and $sevenOnlyParameters.ContainsKey($name)) {
                    foreach ($element in $node.CommandElements) {
                        if ($element -is [System.Management.Automation.Language.CommandParameterAst]) {
                            foreach ($bad in $sevenOnlyParameters[$name]) {
                                if ($bad -eq '*' -or $element.ParameterName -like "$bad*" -and $element.ParameterName.Length -ge 3) {
                                    $found.Add("$name -$($element.ParameterName) (PowerShell 7 only) at line $($node.Extent.StartLineNumber)")
                                }
                            }
                        }
                    }
                    if ($sevenOnlyParameters[$name] -contains '*') { $found.Add("$name (PowerShell 7 only) at line $($node.Extent.StartLineNumber)") }
                }
            }
        }
        foreach ($t in $tokens) {
            if ("$($t.Kind)" -in 'QuestionDot', 'QuestionLBracket') { $found.Add("null-conditional token at line $($t.Extent.StartLineNumber)") }
        }
        $found
    }

    function Find-CoreOnlyApi {
        # What parses on 5.1 but fails there at run time: the $Is<Platform> variables (absent,
        # so $null) and the .NET Core-only members the suite has used.
        param([string] $Text)
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Text, [ref]$null, [ref]$null)
        $found = [System.Collections.Generic.List[string]]::new()
        foreach ($node in $ast.FindAll({ $true }, $true)) {
            if ($node -is [System.Management.Automation.Language.VariableExpressionAst] -and $node.VariablePath.UserPath -in 'IsWindows', 'IsLinux', 'IsMacOS', 'IsCoreCLR') {
                $found.Add("`$$($node.VariablePath.UserPath) (absent on Windows PowerShell 5.1) at line $($node.Extent.StartLineNumber)")
            }
            if ($node -is [System.Management.Automation.Language.MemberExpressionAst] -and $node.Member -is [System.Management.Automation.Language.StringConstantExpressionAst]) {
                $member = $node.Member.Value
                $arguments = if ($node -isnot [System.Management.Automation.Language.InvokeMemberExpressionAst]) { -1 } elseif ($node.Arguments) { $node.Arguments.Count } else { 0 }
                if ($member -eq 'ArgumentList' -and -not $node.Static) { $found.Add(".ArgumentList (ProcessStartInfo.ArgumentList is .NET Core only; use ConvertTo-CommandLine) at line $($node.Extent.StartLineNumber)") }
                if ($member -eq 'Kill' -and $arguments -eq 1) { $found.Add("Process.Kill(entireProcessTree) (.NET Core only) at line $($node.Extent.StartLineNumber)") }
                if ($member -eq 'Move' -and $node.Static -and $arguments -eq 3) { $found.Add("File.Move(source, destination, overwrite) (.NET Core only) at line $($node.Extent.StartLineNumber)") }
            }
        }
        $found
    }
}

Describe 'The compatibility checker itself' {
    It 'flags <Sample>' -ForEach @(
        @{ Sample = '$a = $b ? 1 : 2' }
        @{ Sample = '$a = $b ?? 3' }
        @{ Sample = '$a ??= 3' }
        @{ Sample = 'git status && echo ok' }
        @{ Sample = '$x = ${a}?.b' }
        @{ Sample = '1..3 | ForEach-Object -Parallel { $_ }' }
        @{ Sample = 'ConvertFrom-Json -InputObject $t -AsHashtable' }
        @{ Sample = 'Join-Path $a b c' }
    ) {
        Find-PowerShell7Syntax $Sample | Should -Not -BeNullOrEmpty
    }

    It 'flags the .NET Core-only API <Sample>' -ForEach @(
        @{ Sample = 'if ($IsWindows) { 1 }' }
        @{ Sample = '$info.ArgumentList.Add(''-File'')' }
        @{ Sample = '$process.Kill($true)' }
        @{ Sample = '[IO.File]::Move($a, $b, $true)' }
    ) {
        Find-CoreOnlyApi $Sample | Should -Not -BeNullOrEmpty
    }

    It 'accepts their 5.1 forms' {
        Find-CoreOnlyApi '$info.Arguments = ConvertTo-CommandLine $a; $process.Kill(); [IO.File]::Move($a, $b); Start-Process x -ArgumentList $a' | Should -BeNullOrEmpty
        Find-PowerShell7Syntax 'Join-Path $a b; Join-Path -Path $a -ChildPath b' | Should -BeNullOrEmpty
    }

    It 'accepts plain Windows PowerShell 5.1 script' {
        Find-PowerShell7Syntax 'function f { [CmdletBinding()] param([string]$a) if ($a) { [pscustomobject]@{ A = $a } } else { $null = [datetime]::new(2020, 1, 1) } }' | Should -BeNullOrEmpty
    }
}

Describe 'Module scripts use Windows PowerShell 5.1 syntax only' {
    It '<Name> has no PowerShell 7-only syntax' -ForEach $Scripts {
        Find-PowerShell7Syntax (Get-Content -Raw $Path) | Should -BeNullOrEmpty
    }
}

Describe 'The Pester suite runs on Windows PowerShell 5.1' {
    It '<Name> has no PowerShell 7-only syntax or parameters' -ForEach $TestScripts {
        Find-PowerShell7Syntax (Get-Content -Raw $Path) | Should -BeNullOrEmpty
    }

    It '<Name> uses no 7-only variables or .NET Core-only APIs' -ForEach $TestScripts {
        Find-CoreOnlyApi (Get-Content -Raw $Path) | Should -BeNullOrEmpty
    }

    It 'ConvertTo-CommandLine quotes arguments so a child process receives them unchanged' {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        $arguments = @('plain', 'two words', '', 'quote"inside', 'trailing\', 'C:\dir with space\', 'back\"slash', '\\server\share', "tab`there")
        $script = Join-Path ([IO.Path]::GetTempPath()) "mi-args-$([guid]::NewGuid()).ps1"
        Set-Content -Path $script -Value 'foreach ($a in $args) { "<$a>" }' -Encoding utf8
        try {
            $info = [System.Diagnostics.ProcessStartInfo]::new((Get-PwshPath))
            $info.Arguments = ConvertTo-CommandLine (@('-NoProfile', '-NonInteractive', '-File', $script) + $arguments)
            $info.RedirectStandardOutput = $true
            $info.UseShellExecute = $false
            $process = [System.Diagnostics.Process]::Start($info)
            $received = @($process.StandardOutput.ReadToEnd() -split '\r?\n' | Where-Object { $_ })
            $process.WaitForExit()
        }
        finally { Remove-Item $script -ErrorAction SilentlyContinue }
        $received | Should -Be @($arguments | ForEach-Object { "<$_>" })
    }

    It 'Get-PwshPath starts the edition that runs the suite' {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        $out = Invoke-FreshPwsh '$PSVersionTable.PSEdition'
        $out | Should -Be $PSVersionTable.PSEdition
    }
}

Describe 'The staged module' {
    It 'targets both editions' {
        $manifest = Import-PowerShellDataFile (Join-Path (Split-Path $PSScriptRoot -Parent) 'out/ManagedIdentity/ManagedIdentity.psd1')
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $manifest.PowerShellVersion | Should -Be '5.1'
    }

    It 'ships an interop assembly that references only netstandard 2.0 and PowerShell Standard' {
        $path = Join-Path (Split-Path $PSScriptRoot -Parent) 'out/ManagedIdentity/bin/ManagedIdentity.Interop.dll'
        $assembly = [System.Reflection.Metadata.MetadataReader]
        $stream = [IO.File]::OpenRead($path)
        try {
            $pe = [System.Reflection.PortableExecutable.PEReader]::new($stream)
            $reader = [System.Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
            $references = foreach ($handle in $reader.AssemblyReferences) {
                $reference = $reader.GetAssemblyReference($handle)
                '{0} {1}' -f $reader.GetString($reference.Name), $reference.Version
            }
            $pe.Dispose()
        }
        finally { $stream.Dispose() }
        $references | Sort-Object | Should -Be @('netstandard 2.0.0.0', 'System.Management.Automation 3.0.0.0')
    }

    It 'has a manifest written with comma lists, which PowerShell evaluates without a pipeline or dynamic binder (issue 9)' {
        $path = Join-Path (Split-Path $PSScriptRoot -Parent) 'out/ManagedIdentity/ManagedIdentity.psd1'
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($path, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $filled = @($ast.FindAll({ param($node) $node -is [System.Management.Automation.Language.ArrayExpressionAst] -and $node.SubExpression.Statements.Count -gt 0 }, $true))
        $filled.ForEach({ $_.Extent.Text }) | Should -BeNullOrEmpty -Because 'an @(...) holding items is evaluated through a pipeline at every import'
        (Import-PowerShellDataFile $path).CmdletsToExport.Count | Should -Be 22
    }

    It 'has a dot-sourceable entry file that imports the compiled cmdlets, in 5.1 syntax' {
        $entry = Get-Content -Raw (Join-Path (Split-Path $PSScriptRoot -Parent) 'out/ManagedIdentity/ManagedIdentity.ps1')
        $entry | Should -Match 'ManagedIdentity\.Interop\.dll'
        Find-PowerShell7Syntax $entry | Should -BeNullOrEmpty
    }
}
