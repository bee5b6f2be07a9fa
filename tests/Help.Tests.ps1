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
