#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 25 item 2: what only Windows does, on the built module in a Windows pwsh (on Linux, the
# Test task's Windows leg runs this file under Wine; on Windows, the ordinary Pester run). Every
# Describe is tagged WindowsOnly: these are Windows paths, Windows folders and the Windows loader.
# - Azure Arc's key file in the agent's own folder %ProgramData%\AzureConnectedMachineAgent\Tokens
#   (no test-only variable), and every key-file attack refused before the key is sent.
# - -CertificatePath, -FederatedTokenFile and export paths as users type them: drive letter,
#   relative to the PowerShell location, PSDrive, UNC, ~, forward slashes, in a user profile with
#   a space and non-ASCII letters; PEM and token files with CRLF line ends and a UTF-8 BOM (what
#   Windows PowerShell 5.1's Set-Content -Encoding UTF8 and Notepad write).
# - Exports Windows tools open: the stated encoding and line ends of CSV, JSON and HTML.
# - The module installed in a folder with spaces and non-ASCII letters, imported under
#   RemoteSigned; an engine that cannot load gives one clear error.
# Non-ASCII text is built from code points so this file reads the same in every PowerShell.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:Tenant = $Seed.tenantId
    $script:Base = $Emulator.BaseUrl
    $script:TestData = Join-Path (Split-Path (Split-Path $PSScriptRoot -Parent) -Parent) 'rust/core/src/credentials/testdata'
    Clear-HostEnvironment
    foreach ($name in 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD') {
        [Environment]::SetEnvironmentVariable($name, $null)
    }
    # A user profile as Windows names it for Zoë Müller, under the system drive's Users folder.
    $script:UserName = "Zo$([char]0xEB) M$([char]0xFC)ller"
    $script:Suffix = [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:UserFolder = Join-Path $env:SystemDrive "Users\$UserName"
    $script:Work = Join-Path $UserFolder "mi-test $Suffix"
    $null = New-Item -ItemType Directory -Force $Work
    $script:HomeWork = Join-Path $HOME "mi-test $Suffix"
    $null = New-Item -ItemType Directory -Force (Join-Path $HomeWork $UserName)

    function script:New-PipelineApp {
        # An application of the emulated tenant holding Graph's Application.Read.All.
        $created = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 1; prefix = 'windows'; type = 'Application' }
        $graph = $Seed.resources | Where-Object alias -EQ 'Graph'
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/assignments' -Body @{ principalId = $created[0].id; resourceId = $graph.objectId; appRoleValue = 'Application.Read.All' }
        $created[0]
    }

    function script:ConvertTo-Base64Url([string] $Text) {
        [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($Text)).TrimEnd('=').Replace('+', '-').Replace('/', '_')
    }

    function script:Write-WindowsText([string] $Path, [string] $Text, [switch] $Bom) {
        # CRLF line ends, optionally a UTF-8 BOM: what Notepad and Windows PowerShell 5.1 write.
        $bytes = [Text.Encoding]::UTF8.GetBytes(($Text -replace "`r?`n", "`r`n"))
        if ($Bom) { $bytes = [byte[]](0xEF, 0xBB, 0xBF) + $bytes }
        [IO.File]::WriteAllBytes($Path, $bytes)
    }

    function script:Get-WindowsPath([string] $Style, [string] $File) {
        # The same file ($File, under $Work) as a user types it in one style.
        $leaf = Split-Path $File -Leaf
        switch ($Style) {
            'drive letter' { $File }
            'forward slashes' { $File.Replace('\', '/') }
            'relative to the PowerShell location' { ".\$leaf" }
            'UNC' { '\\localhost\' + $File.Substring(0, 1) + '$' + $File.Substring(2) }
            'PSDrive' {
                $null = New-Item -ItemType Directory -Force "TestDrive:\$UserName"
                Copy-Item -LiteralPath $File "TestDrive:\$UserName\$leaf" -Force
                "TestDrive:\$UserName\$leaf"
            }
            '~' {
                Copy-Item -LiteralPath $File (Join-Path $HomeWork "$UserName\$leaf") -Force
                "~\mi-test $Suffix\$UserName\$leaf"
            }
        }
    }
    $script:PathStyles = @('drive letter', 'forward slashes', 'relative to the PowerShell location', 'UNC', 'PSDrive', '~')
}

AfterAll {
    Clear-HostEnvironment
    Stop-TestEmulator $Emulator
    foreach ($folder in $Work, $HomeWork) { Remove-TestFolder $folder }
    if ((Test-Path -LiteralPath $UserFolder) -and -not (Get-ChildItem -LiteralPath $UserFolder -Force)) { Remove-Item -LiteralPath $UserFolder }
}

Describe 'Paths as users type them on Windows' -Tag 'WindowsOnly' {
    BeforeAll {
        $script:App = New-PipelineApp
        $certPem = Get-Content -Raw (Join-Path $TestData 'cert.pem')
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/certificates' -Body @{ clientId = $App.appId; certificatePem = $certPem }
        $script:PemPath = Join-Path $Work 'client certificate.pem'
        Write-WindowsText $PemPath ($certPem + (Get-Content -Raw (Join-Path $TestData 'key.pem')))
        $script:BomPemPath = Join-Path $Work 'client certificate (BOM).pem'
        Write-WindowsText $BomPemPath ($certPem + (Get-Content -Raw (Join-Path $TestData 'key.pem'))) -Bom

        $script:Issuer = 'https://token.actions.githubusercontent.com'
        $script:Subject = 'repo:contoso/deploy:ref:refs/heads/main'
        $script:FederatedApp = New-PipelineApp
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/federatedCredentials' -Body @{ clientId = $FederatedApp.appId; issuer = $Issuer; subject = $Subject }
        $header = ConvertTo-Base64Url '{"alg":"RS256","typ":"JWT"}'
        $payload = ConvertTo-Base64Url (@{ iss = $Issuer; sub = $Subject; aud = 'api://AzureADTokenExchange'; exp = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 3600 } | ConvertTo-Json -Compress)
        # A token file as a Windows editor saves it: the token, then CRLF.
        $script:TokenPath = Join-Path $Work 'oidc token.txt'
        Write-WindowsText $TokenPath "$header.$payload.c2lnbmF0dXJl`n"
        $script:BomTokenPath = Join-Path $Work 'oidc token (BOM).txt'
        Write-WindowsText $BomTokenPath "$header.$payload.c2lnbmF0dXJl`n" -Bom
    }

    BeforeEach {
        # The process directory is elsewhere: relative paths must follow the PowerShell location.
        $script:SavedDirectory = [Environment]::CurrentDirectory
        [Environment]::CurrentDirectory = $env:SystemRoot
        Push-Location -LiteralPath $Work
    }

    AfterEach {
        Pop-Location
        [Environment]::CurrentDirectory = $SavedDirectory
        $null = Disconnect-Identity -ErrorAction SilentlyContinue
    }

    It '-CertificatePath given by <_> (a CRLF PEM in a profile with a space and non-ASCII letters)' -ForEach $PathStyles {
        $path = Get-WindowsPath $_ $PemPath
        $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $path -AuthorityHost $Base -GraphEndpoint $Base
        $context.AuthType | Should -Be 'ClientCertificate'
        $context.Roles | Should -Be @('Application.Read.All')
    }

    It '-FederatedTokenFile given by <_> (a token file ending in CRLF)' -ForEach $PathStyles {
        $path = Get-WindowsPath $_ $TokenPath
        $context = Connect-Identity -TenantId $Tenant -ClientId $FederatedApp.appId -FederatedTokenFile $path -AuthorityHost $Base -GraphEndpoint $Base
        $context.AuthType | Should -Be 'WorkloadIdentity'
        $context.Roles | Should -Be @('Application.Read.All')
    }

    It 'reads a PEM and a token file with a UTF-8 BOM (Windows PowerShell 5.1''s Set-Content -Encoding UTF8)' {
        (Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $BomPemPath -AuthorityHost $Base -GraphEndpoint $Base).AuthType | Should -Be 'ClientCertificate'
        (Connect-Identity -TenantId $Tenant -ClientId $FederatedApp.appId -FederatedTokenFile $BomTokenPath -AuthorityHost $Base -GraphEndpoint $Base).AuthType | Should -Be 'WorkloadIdentity'
    }

    It 'names the path as resolved when a relative file is missing (the PowerShell location, not the process directory)' {
        $err = $null
        try { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath '.\missing.pem' -AuthorityHost $Base -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        ($err.FullyQualifiedErrorId -split ',')[0] | Should -BeLike 'ManagedIdentity.*'
        $err.InvocationInfo.MyCommand.Name | Should -Be 'Connect-Identity'
        $err.Exception.Message | Should -BeLike "*$(Join-Path $Work 'missing.pem')*"
    }
}

Describe 'Exports that Windows tools open' -Tag 'WindowsOnly' {
    BeforeAll {
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/tenant' -Body @{
            managedIdentities = 3; applications = 1; assignments = 6; seed = 25; prefix = "$UserName app"; criticalShare = 0.5
        }
        Set-IdentityEnvironment $Emulator 'IMDS'
        $null = Connect-Identity -Identity -GraphEndpoint $Base
        $script:Rows = @(Get-GraphAppRoleReport | Where-Object IdentityName -Like "$UserName app*" | Sort-Object IdentityName, Permission)
    }

    AfterAll { Clear-IdentityEnvironment }

    BeforeEach { Push-Location -LiteralPath $Work }
    AfterEach { Pop-Location }

    It 'writes CSV as UTF-8 with a BOM (so Excel reads non-ASCII names) and one row per line, to <_>' -ForEach @('TestDrive:\report.csv', '.\report.csv', '~\report.csv') {
        $Rows.Count | Should -BeGreaterThan 0
        $file = $Rows | Export-GraphAppRoleReport -Path $_
        $file.FullName | Should -Be $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($_)
        $bytes = [IO.File]::ReadAllBytes($file.FullName)
        try {
            @($bytes[0..2]) | Should -Be @(0xEF, 0xBB, 0xBF)
            $text = [Text.UTF8Encoding]::new($false, $true).GetString($bytes, 3, $bytes.Length - 3)
            $text | Should -Match ([regex]::Escape("`"$UserName app"))
            # "\n" line ends, stated in the help: Excel and Import-Csv read them; git diffs stay clean.
            $text | Should -Not -Match "`r"
            @(Import-Csv -LiteralPath $file.FullName).Count | Should -Be $Rows.Count
            @(Import-Csv -LiteralPath $file.FullName)[0].IdentityName | Should -BeLike "$UserName app*"
        }
        finally { Remove-Item -LiteralPath $file.FullName }
    }

    It 'writes JSON and HTML as UTF-8 without a BOM, the HTML declaring its charset' {
        $json = $Rows | Export-GraphAppRoleReport -Path '.\report.json'
        $jsonBytes = [IO.File]::ReadAllBytes($json.FullName)
        $jsonBytes[0] | Should -Be ([byte][char]'[')
        (ConvertFrom-Json ([Text.UTF8Encoding]::new($false, $true).GetString($jsonBytes)))[0].IdentityName | Should -BeLike "$UserName app*"
        $null = Get-GraphAppRoleReport -HtmlPath 'TestDrive:\report.html'
        $htmlBytes = [IO.File]::ReadAllBytes((Join-Path $TestDrive 'report.html'))
        $htmlBytes[0] | Should -Be ([byte][char]'<')
        $html = [Text.UTF8Encoding]::new($false, $true).GetString($htmlBytes)
        $html | Should -Match '<meta charset="utf-8">'
        $html | Should -Match ([regex]::Escape("$UserName app"))
    }
}

Describe 'Azure Arc with the agent''s key file in %ProgramData%' -Tag 'WindowsOnly' {
    BeforeAll {
        $script:Tokens = Join-Path $env:ProgramData 'AzureConnectedMachineAgent\Tokens'
        $script:Arc = Start-TestEmulator -ArgumentList @('--arc-token-dir', $Tokens)
        $script:ArcInfo = (Get-EmulatorInfo $Arc).hosts.arc
    }

    AfterAll { Stop-TestEmulator $Arc }

    BeforeEach {
        $null = Set-HostEnvironment $Arc 'Arc'
        # The agent's real folder: the test-only override is not set.
        $env:MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY = $null
        Set-EmulatorConfig $Arc @{ arcChallenge = 'valid' }
        Reset-EmulatorStats $Arc
    }

    It 'refuses <Mode> (<What>) before the key is sent' -ForEach @(
        @{ Mode = 'outsideDirectory'; What = 'a .key file in another folder' }
        @{ Mode = 'dotDot'; What = 'a path through ..' }
        @{ Mode = 'symlink'; What = 'a symbolic link out of the folder' }
        @{ Mode = 'linkedDirectory'; What = 'a directory link (junction) out of the folder' }
        @{ Mode = 'unc'; What = 'the right file by a UNC path' }
        @{ Mode = 'wrongExtension'; What = 'a .txt file' }
        @{ Mode = 'oversize'; What = '4097 bytes' }
    ) {
        Set-EmulatorConfig $Arc @{ arcChallenge = $Mode }
        $err = $null
        try { Connect-Identity -Identity -GraphEndpoint $Arc.BaseUrl -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.UnsafeKeyFile,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $err.Exception.Message | Should -Match 'was not read'
        $err.Exception.Message | Should -Match ([regex]::Escape($Tokens))
        $requests = (Get-EmulatorStats $Arc).requests
        $requests.arc | Should -Be 1
        $requests.arcWithKey | Should -Be 0
    }

    # After the refusals: a token of this emulator, once cached, would answer them without a request.
    It 'reads the key from the file the agent names in %ProgramData%\AzureConnectedMachineAgent\Tokens' {
        $ArcInfo.tokenDirectory | Should -Be $Tokens
        $context = Connect-Identity -Identity -GraphEndpoint $Arc.BaseUrl
        $context.Source | Should -Be 'Arc'
        (Get-EmulatorStats $Arc).requests.arcWithKey | Should -Be 1
        $Tokens | Should -BeLike "$env:SystemDrive\ProgramData\AzureConnectedMachineAgent\Tokens"
    }
}

Describe 'The module in a folder with spaces and non-ASCII letters, under RemoteSigned' -Tag 'WindowsOnly' {
    BeforeAll {
        # A OneDrive-redirected Documents folder, as Windows names it for this user.
        $script:Modules = Join-Path $Work 'OneDrive - Contoso\Documents\PowerShell\Modules'
        $script:Installed = Join-Path $Modules 'ManagedIdentity'
        $null = New-Item -ItemType Directory -Force $Installed
        Copy-Item (Join-Path (Get-TestModulePath) '*') $Installed -Recurse
        Set-IdentityEnvironment $Emulator 'Automation'
    }

    AfterAll { Clear-IdentityEnvironment }

    It 'imports by name from PSModulePath and gets a token' {
        $out = Invoke-FreshPwsh -ExecutionPolicy RemoteSigned @"
`$ErrorActionPreference = 'Stop'
`$env:PSModulePath = '$Modules' + [IO.Path]::PathSeparator + `$env:PSModulePath
'POLICY=' + (Get-ExecutionPolicy)
`$module = Import-Module ManagedIdentity -PassThru
'BASE=' + `$module.ModuleBase
'SOURCE=' + (Connect-Identity -Identity).Source
'PARTS=' + (Get-IdentityToken -AsPlainText).Split('.').Count
'ENGINE=' + [ManagedIdentity.Interop.NativeLoader]::LibraryPath
"@
        Get-FreshPwshExitCode | Should -Be 0 -Because ($out -join "`n")
        $out | Should -Contain 'POLICY=RemoteSigned'
        $out | Should -Contain "BASE=$Installed"
        $out | Should -Contain 'SOURCE=AzureAutomation'
        $out | Should -Contain 'PARTS=3'
        $out | Should -Contain "ENGINE=$(Join-Path $Installed 'runtimes\win-x64\native\managedidentity_engine.dll')"
    }

    It 'dot-sources ManagedIdentity.ps1 from there and gets a token' {
        $out = Invoke-FreshPwsh -ExecutionPolicy RemoteSigned @"
`$ErrorActionPreference = 'Stop'
. '$(Join-Path $Installed 'ManagedIdentity.ps1')'
'SOURCE=' + (Connect-Identity -Identity).Source
'PARTS=' + (Get-IdentityToken -AsPlainText).Split('.').Count
"@
        Get-FreshPwshExitCode | Should -Be 0 -Because ($out -join "`n")
        $out | Should -Contain 'SOURCE=AzureAutomation'
        $out | Should -Contain 'PARTS=3'
    }
}

Describe 'An engine that cannot load' -Tag 'WindowsOnly' {
    BeforeAll {
        $script:RandomSeed = 25
        Write-Host "Random seed for the damaged engine: $RandomSeed"
        $script:Copies = Join-Path $Work 'engines'
        function script:New-ModuleCopy([string] $Name, [scriptblock] $Damage) {
            $copy = Join-Path $Copies "$Name\ManagedIdentity"
            $null = New-Item -ItemType Directory -Force $copy
            Copy-Item (Join-Path (Get-TestModulePath) '*') $copy -Recurse
            & $Damage (Join-Path $copy 'runtimes\win-x64\native\managedidentity_engine.dll')
            $copy
        }
        function script:Invoke-FirstCall([string] $Module) {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $out = Invoke-FreshPwsh -TimeoutSec 60 @"
Import-Module '$Module'
try { Test-IdentityEndpoint -TimeoutSec 1; 'NOERROR' } catch { 'ERROR=' + `$_.FullyQualifiedErrorId; 'MESSAGE=' + `$_.Exception.Message }
try { Test-IdentityEndpoint -TimeoutSec 1; 'NOERROR' } catch { 'AGAIN=' + `$_.FullyQualifiedErrorId }
"@
            [pscustomobject]@{ Output = $out; Seconds = $clock.Elapsed.TotalSeconds; Message = ($out | Where-Object { $_ -like 'MESSAGE=*' }) -join ' ' }
        }
    }

    It 'a Windows older than 10 / Server 2016 (a system DLL it imports is missing): one EngineUnavailable error naming the requirement, twice' {
        # The engine imports api-ms-win-core-synch-l1-2-0.dll (WaitOnAddress), which Windows 7 /
        # Server 2008 R2 lack: renamed to an API set no Windows has, the loader fails as it does
        # there. (Windows 8.1's case, bcryptprimitives.dll without ProcessPrng, cannot be played
        # under Wine: Wine binds a missing export to a stub that aborts when called.)
        $module = New-ModuleCopy 'old-windows' {
            param($Dll)
            $bytes = [IO.File]::ReadAllBytes($Dll)
            $text = [Text.Encoding]::ASCII.GetString($bytes)
            $at = $text.IndexOf('api-ms-win-core-synch-l1-2-0.dll', [StringComparison]::Ordinal)
            $at | Should -BeGreaterThan 0 -Because 'the engine imports the synch API set'
            $bytes[$at + 'api-ms-win-core-synch-l1-'.Length] = [byte][char]'9'
            [IO.File]::WriteAllBytes($Dll, $bytes)
        }
        $run = Invoke-FirstCall $module
        $run.Output | Should -Contain 'ERROR=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand' -Because ($run.Output -join "`n")
        $run.Output | Should -Contain 'AGAIN=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand'
        $run.Message | Should -Match 'Windows 10 or Windows Server 2016 or later'
        $run.Message | Should -Match ([regex]::Escape((Join-Path $module 'runtimes\win-x64\native\managedidentity_engine.dll')))
        $run.Seconds | Should -BeLessThan 60
    }

    It 'a damaged engine file (random bytes): one EngineUnavailable error naming the file, twice, never a hang' {
        $module = New-ModuleCopy 'damaged' {
            param($Dll)
            $random = [Random]::new($RandomSeed)
            $bytes = [byte[]]::new(65536)
            $random.NextBytes($bytes)
            [IO.File]::WriteAllBytes($Dll, $bytes)
        }
        $run = Invoke-FirstCall $module
        $run.Output | Should -Contain 'ERROR=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand' -Because ($run.Output -join "`n")
        $run.Output | Should -Contain 'AGAIN=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand' -Because 'a second call must not load the damaged file again'
        $run.Message | Should -Match 'Cannot load the ManagedIdentity engine'
        $run.Message | Should -Match 'reinstall the module'
    }

    It 'a missing engine file: one EngineUnavailable error naming win-x64 and the folder' {
        $module = New-ModuleCopy 'missing' { param($Dll) Remove-Item -LiteralPath $Dll }
        $run = Invoke-FirstCall $module
        $run.Output | Should -Contain 'ERROR=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand' -Because ($run.Output -join "`n")
        $run.Message | Should -Match 'win-x64'
        $run.Message | Should -Match ([regex]::Escape((Join-Path $module 'runtimes\win-x64\native')))
    }
}
