#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Every exported command has complete help (from the MAML file generated at build time), whether
# the module is imported or its entry script dot-sourced.

BeforeDiscovery {
    $manifest = Import-PowerShellDataFile (Join-Path (Split-Path $PSScriptRoot -Parent) 'out/ManagedIdentity/ManagedIdentity.psd1')
    $script:Commands = @($manifest.CmdletsToExport + $manifest.FunctionsToExport | Where-Object { $_ } | ForEach-Object { @{ Name = $_ } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    . (Join-Path $RepoRoot 'powershell/build/Package.ps1')
    $script:ProjectUri = Get-ProjectUri $RepoRoot
    $script:Readme = Get-Content -Raw (Join-Path $RepoRoot 'README.md')
}

Describe 'Help of <Name>' -ForEach $Commands {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Command = Get-Command $Name
    }

    It 'comes from the module''s help file' {
        $Command.CommandType | Should -Be 'Cmdlet'
        Split-Path -Leaf $Command.HelpFile | Should -Be 'ManagedIdentity.Interop.dll-Help.xml'
        # Without a help file PowerShell makes the synopsis from the syntax.
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match ([regex]::Escape("$Name ["))
    }

    It 'has a description' {
        ($Help.description.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
    }

    It 'documents every parameter' {
        $documented = @{}
        foreach ($p in $Help.parameters.parameter) { $documented[$p.name] = ($p.description.Text -join ' ').Trim() }
        foreach ($name in $Command.Parameters.Keys | Where-Object { $Common -notcontains $_ }) {
            $documented.ContainsKey($name) | Should -BeTrue -Because "-$name must be documented"
            $documented[$name] | Should -Not -BeNullOrEmpty -Because "-$name needs a description"
        }
    }

    It 'has an online link to its README section' {
        $uri = @($Help.relatedLinks.navigationLink | Where-Object { $_.uri })[0].uri
        $uri | Should -Be "$ProjectUri/blob/main/README.md#$($Name.ToLowerInvariant())"
        $Readme | Should -Match "(?m)^### $([regex]::Escape($Name))\s*$" -Because 'the link points at this README heading'
    }

    It 'has at least one example with code' {
        @($Help.examples.example).Count | Should -BeGreaterOrEqual 1
        foreach ($example in $Help.examples.example) { $example.code | Should -Not -BeNullOrEmpty }
    }
}

Describe 'Get-Help output' {
    It 'Get-Help Connect-Identity -Full shows synopsis, parameters and the runbook example' {
        $text = Get-Help Connect-Identity -Full | Out-String -Width 200
        $text | Should -Match 'Connects with a managed identity'
        $text | Should -Match '-ClientId <String>'
        $text | Should -Match 'Accept pipeline input\?'
        $text | Should -Match 'Azure Automation runbook, system-assigned identity'
    }

    It 'Get-Help Connect-Identity -Examples shows the examples' {
        $text = Get-Help Connect-Identity -Examples | Out-String -Width 200
        $text | Should -Match 'Example 1'
        $text | Should -Match 'Connect-Identity -Identity -ClientId'
    }

    It 'documents the shapes -Identity accepts from the pipeline' {
        $text = (Get-Help Grant-GraphAppRole -Parameter Identity).description.Text -join ' '
        $text | Should -Match 'by value only'
        $text | Should -Match 'InvalidIdentityInput'
    }

    It 'is found after dot-sourcing the entry script too' {
        $entry = Join-Path (Get-TestModulePath) 'ManagedIdentity.ps1'
        $out = Invoke-FreshPwsh @"
. '$entry'
'examples=' + @((Get-Help Grant-GraphAppRole -Examples).examples.example).Count
'synopsis=' + (Get-Help Connect-Identity).Synopsis
"@
        $out | Should -Contain 'examples=4'
        ($out | Where-Object { $_ -like 'synopsis=*' }) | Should -Match 'Connects with a managed identity'
    }
}

Describe 'about_ManagedIdentity' {
    BeforeAll {
        $script:About = Get-Help about_ManagedIdentity | Out-String -Width 200
        $script:AboutText = Get-Content -Raw (Join-Path $RepoRoot 'powershell/ManagedIdentity/en-US/about_ManagedIdentity.help.txt')
    }

    It 'is found by Get-Help after Import-Module, with every section' {
        $About | Should -Match 'about_ManagedIdentity'
        foreach ($section in 'HOSTS', 'CREDENTIALS', 'ERRORS', 'ERROR IDS', 'TUTORIAL', 'OFFLINE TESTING WITH THE EMULATOR') {
            $About | Should -Match "(?m)^$section" -Because "the topic has a $section section"
        }
    }

    It 'is found after dot-sourcing the entry script too' {
        $entry = Join-Path (Get-TestModulePath) 'ManagedIdentity.ps1'
        $out = Invoke-FreshPwsh @"
. '$entry'
'found=' + ((Get-Help about_ManagedIdentity | Out-String) -match 'ERROR IDS')
"@
        $out | Should -Contain 'found=True'
    }

    It 'lists exactly the error ids the engine and the cmdlets raise' {
        # Engine: every ErrorKind variant (rust/core/src/error.rs) is ManagedIdentity.<Variant>.
        $rust = Get-Content -Raw (Join-Path $RepoRoot 'rust/core/src/error.rs')
        $enum = [regex]::Match($rust, '(?s)pub enum ErrorKind \{(.*?)\n\}').Groups[1].Value
        $enum | Should -Not -BeNullOrEmpty
        $kinds = @([regex]::Matches($enum, '(?m)^\s*([A-Z]\w*),?\s*$') | ForEach-Object { "ManagedIdentity.$($_.Groups[1].Value)" })
        # Cmdlets: the ids ErrorRecords are created with in the interop C# (ErrorRecords.Create or
        # new ErrorRecord; not the type names of [OutputType] lists).
        $csharp = (Get-ChildItem (Join-Path $RepoRoot 'powershell/ManagedIdentity/interop') -Recurse -Filter *.cs | ForEach-Object { Get-Content -Raw $_.FullName }) -join "`n"
        $records = @([regex]::Matches($csharp, '(?:Create\(\s*|,\s*)"(ManagedIdentity\.\w+)"\s*,\s*(?:"|ErrorCategory\.)') | ForEach-Object { $_.Groups[1].Value })
        $records | Should -Contain 'ManagedIdentity.ForeignContext' -Because 'the C# scan must find the cmdlets'' own ids'
        $expected = @($kinds + $records | Sort-Object -Unique)
        $expected.Count | Should -BeGreaterThan 20

        $section = [regex]::Match($AboutText, '(?s)\nERROR IDS\r?\n(.*?)\r?\n(?=\S)').Groups[1].Value
        $documented = @([regex]::Matches($section, '(?m)^    (ManagedIdentity\.\w+)\s*$') | ForEach-Object { $_.Groups[1].Value } | Sort-Object -Unique)
        $documented | Should -Be $expected
    }
}
