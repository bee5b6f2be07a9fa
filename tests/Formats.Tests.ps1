#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Format views (powershell/ManagedIdentity/formats/*.format.ps1xml): one for every output type the
# cmdlets declare, loaded on the first ManagedIdentity-typed output rather than at import (adding
# format data rebuilds the session's format table; issue 9), whether the module is imported or its
# entry script dot-sourced.

BeforeDiscovery {
    $root = Split-Path $PSScriptRoot -Parent
    $script:FormatFiles = @(Get-ChildItem (Join-Path $root 'powershell/ManagedIdentity/formats') -Filter *.format.ps1xml | ForEach-Object { @{ Name = $_.Name; Path = $_.FullName } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-TestModulePath
    $script:Emulator = Start-TestEmulator
    Set-IdentityEnvironment $Emulator 'IMDS'
    $script:Viewed = @{}
    foreach ($file in Get-ChildItem (Join-Path $ModulePath 'formats') -Filter *.format.ps1xml) {
        [xml] $xml = Get-Content -Raw $file.FullName
        foreach ($name in $xml.SelectNodes('//View/ViewSelectedBy/TypeName')) { $Viewed[$name.InnerText.Trim()] = $file.Name }
    }
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Format files' {
    It '<Name> is staged in the module''s formats folder' -ForEach $FormatFiles {
        $staged = Join-Path $ModulePath "formats/$Name"
        Test-Path $staged | Should -BeTrue
        (Get-FileHash $staged).Hash | Should -Be (Get-FileHash $Path).Hash
    }

    It 'every ManagedIdentity output type the cmdlets declare ([OutputType]) has a view' {
        $out = Invoke-FreshPwsh @"
`$module = Import-Module '$ModulePath' -PassThru
foreach (`$command in Get-Command -Module `$module.Name) { foreach (`$type in `$command.OutputType) { 'TYPE=' + `$type.Name } }
"@
        $declared = @($out | Where-Object { $_ -like 'TYPE=ManagedIdentity.*' } | ForEach-Object { $_.Substring(5) } | Sort-Object -Unique)
        $declared | Should -Contain 'ManagedIdentity.Context' -Because 'the scan must see the declared types'
        foreach ($type in $declared) { $Viewed.ContainsKey($type) | Should -BeTrue -Because "$type needs a view in formats/" }
    }
}

Describe 'Loading the views' {
    It 'happens on the first ManagedIdentity output other than a context, not at import (<Load>)' -ForEach @(
        @{ Load = 'Import-Module' }, @{ Load = 'dot-source' }
    ) {
        $load = if ($Load -eq 'Import-Module') { "Import-Module '$ModulePath'" } else { ". '$(Join-Path $ModulePath 'ManagedIdentity.ps1')'" }
        $types = ($Viewed.Keys | Sort-Object) -join "','"
        $out = Invoke-FreshPwsh @"
$load
'atImport=' + @(Get-FormatData -TypeName '$types' -ErrorAction SilentlyContinue).Count
`$context = Connect-Identity -Identity -GraphEndpoint '$($Emulator.BaseUrl)'
`$null = Get-IdentityToken
'afterConnect=' + @(Get-FormatData -TypeName '$types' -ErrorAction SilentlyContinue).Count
`$roles = Get-GraphAppRole -Name 'Mail.*'
'afterOutput=' + @(Get-FormatData -TypeName '$types').Count
`$roles | Out-String -Width 200
"@
        $out | Should -Contain 'atImport=0'
        $out | Should -Contain 'afterConnect=0' -Because 'the cold path (connect, token) must not rebuild the format table'
        $out | Should -Contain "afterOutput=$($Viewed.Count)"
        # The AppRole view groups by resource; default display properties would not.
        ($out -join "`n") | Should -Match 'Resource: Microsoft Graph'
        ($out -join "`n") | Should -Match 'Mail\.Send'
    }
}
