#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 23 item 2: the packaged win-x64 engine loaded as Windows loads it, by a small Windows C
# program (tests/windows/native/engine_abi.c: LoadLibraryW of runtimes\win-x64\native\
# managedidentity_engine.dll, then the C ABI the interop uses), without .NET in between:
# the ABI version, managed-identity tokens on the Automation, App Service, IMDS and Arc hosts (Arc
# with its key file in C:\ProgramData\AzureConnectedMachineAgent\Tokens), the Arc key-file
# attacks refused with Windows paths, a client-secret sign-in, and a panic that stays inside the
# engine. The Windows leg builds the program (MinGW-w64) and names it in
# MANAGEDIDENTITY_TEST_ABI_PROGRAM; tagged AbiProgram, so a Windows run without it leaves it out.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../TestHelpers.psm1') -Force
    $script:Program = $env:MANAGEDIDENTITY_TEST_ABI_PROGRAM
    if (-not $Program -or -not (Test-Path -LiteralPath $Program)) { throw "MANAGEDIDENTITY_TEST_ABI_PROGRAM names no program ('$Program'): build.ps1's Windows leg builds it." }
    $script:Dll = Join-Path (Get-TestModulePath) 'runtimes\win-x64\native\managedidentity_engine.dll'
    $ffi = Get-Content -Raw (Join-Path (Split-Path (Split-Path $PSScriptRoot -Parent) -Parent) 'rust/ffi/src/lib.rs')
    $script:AbiVersion = [int]([regex]::Match($ffi, 'ABI_VERSION: u32 = (\d+)').Groups[1].Value)
    $script:Tokens = Join-Path $env:ProgramData 'AzureConnectedMachineAgent\Tokens'
    $script:Emulator = Start-TestEmulator -ArgumentList @('--arc-token-dir', $Tokens)
    $script:Base = $Emulator.BaseUrl
    $script:Hosts = (Get-EmulatorInfo $Emulator).hosts
    $script:Closed = Get-ClosedLoopbackUrl
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "mi-abi-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory $Work

    function script:Invoke-Abi([hashtable] $Request, [hashtable] $Secret) {
        # One operation in a fresh process of the C program; its final chunk, parsed.
        $id = [guid]::NewGuid().ToString('N')
        $requestFile = Join-Path $Work "$id.request.json"
        [IO.File]::WriteAllText($requestFile, (ConvertTo-Json -InputObject $Request -Depth 10 -Compress))
        $arguments = @($Dll, "$AbiVersion", $requestFile)
        if ($Secret) {
            $secretFile = Join-Path $Work "$id.secret.json"
            [IO.File]::WriteAllText($secretFile, (ConvertTo-Json -InputObject $Secret -Compress))
            $arguments += $secretFile
        }
        $output = @(& $Program @arguments)
        $exit = $LASTEXITCODE
        Remove-Item (Join-Path $Work "$id.*")
        $result = $output | Where-Object { $_ -like 'RESULT=*' } | Select-Object -First 1
        [pscustomobject]@{
            Exit   = $exit
            Output = $output -join "`n"
            Abi    = ($output | Where-Object { $_ -like 'ABI=*' } | Select-Object -First 1)
            Chunk  = if ($result) { ConvertFrom-Json $result.Substring(7) } else { $null }
        }
    }

    function script:Get-Connect([hashtable] $Variables, [hashtable] $Extra = @{}) {
        # The host's variables as the cmdlets snapshot them; IMDS off unless given.
        $snapshot = @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Closed; ProgramData = $env:ProgramData }
        foreach ($key in $Variables.Keys) { $snapshot[$key] = $Variables[$key] }
        $arguments = @{ method = 'ManagedIdentity'; environment = $snapshot; graphEndpoint = $Base; timeoutSeconds = 20 }
        foreach ($key in $Extra.Keys) { $arguments[$key] = $Extra[$key] }
        @{ op = 'identity.connect'; args = $arguments }
    }
}

AfterAll {
    Stop-TestEmulator $Emulator
    if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work }
}

Describe 'The packaged engine through LoadLibraryW and the C ABI' -Tag 'WindowsOnly', 'AbiProgram' {
    BeforeEach { Set-EmulatorConfig $Emulator @{ arcChallenge = 'valid' }; Reset-EmulatorStats $Emulator }

    It 'loads, reports ABI version <_> and answers engine.info' -ForEach @($AbiVersion) {
        $run = Invoke-Abi @{ op = 'engine.info'; args = @{} }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Abi | Should -Be "ABI=$AbiVersion"
        $run.Chunk.done | Should -BeTrue
        $run.Chunk.result.EnvironmentVariables | Should -Contain 'IDENTITY_ENDPOINT'
    }

    It 'gets a managed-identity token on <Name>' -ForEach @(
        @{ Name = 'Automation'; Target = 'automation' }
        @{ Name = 'AppService'; Target = 'appService' }
        @{ Name = 'IMDS'; Target = 'imds' }
        @{ Name = 'Arc'; Target = 'arc' }
    ) {
        $environment = @{}; $secret = $null
        switch ($Name) {
            'Automation' { $environment = @{ IDENTITY_ENDPOINT = "$Base/automation/token"; AZUREPS_HOST_ENVIRONMENT = 'AzureAutomation' }; $secret = @{ IDENTITY_HEADER = $Emulator.IdentityHeader } }
            'AppService' { $environment = @{ IDENTITY_ENDPOINT = "$Base/msi/token" }; $secret = @{ IDENTITY_HEADER = $Emulator.IdentityHeader } }
            'IMDS' { $environment = @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Base } }
            'Arc' { foreach ($p in $Hosts.arc.environment.PSObject.Properties) { $environment[$p.Name] = [string]$p.Value } }
        }
        $run = Invoke-Abi (Get-Connect $environment) $secret
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error | Should -BeNullOrEmpty -Because $run.Output
        $run.Chunk.result.Handle | Should -Not -BeNullOrEmpty
        $run.Chunk.result.Roles | Should -Contain 'AppRoleAssignment.ReadWrite.All'
        (Get-EmulatorStats $Emulator).requests.$Target | Should -BeGreaterThan 0
        if ($Name -eq 'Arc') { (Get-EmulatorStats $Emulator).requests.arcWithKey | Should -Be 1 }
    }

    It 'refuses the Arc key file <Mode> (Windows paths) before the key is sent' -ForEach @(
        @{ Mode = 'outsideDirectory' }, @{ Mode = 'dotDot' }, @{ Mode = 'symlink' }, @{ Mode = 'linkedDirectory' },
        @{ Mode = 'unc' }, @{ Mode = 'wrongExtension' }, @{ Mode = 'oversize' }
    ) {
        Set-EmulatorConfig $Emulator @{ arcChallenge = $Mode }
        $environment = @{}
        foreach ($p in $Hosts.arc.environment.PSObject.Properties) { $environment[$p.Name] = [string]$p.Value }
        $run = Invoke-Abi (Get-Connect $environment)
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error.errorId | Should -Be 'ManagedIdentity.UnsafeKeyFile' -Because $run.Output
        $run.Chunk.error.message | Should -Match ([regex]::Escape($Tokens))
        (Get-EmulatorStats $Emulator).requests.arcWithKey | Should -Be 0
    }

    It 'signs in with a client secret' {
        $seed = Get-EmulatorSeed $Emulator
        $created = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 1; prefix = 'abi'; type = 'Application' }
        $graph = $seed.resources | Where-Object alias -EQ 'Graph'
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/assignments' -Body @{ principalId = $created[0].id; resourceId = $graph.objectId; appRoleValue = 'Application.Read.All' }
        $request = Get-Connect @{} @{ method = 'ClientSecret'; tenantId = $seed.tenantId; clientId = $created[0].appId; authorityHost = $Base }
        $run = Invoke-Abi $request @{ clientSecret = 'emulator-client-secret' }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error | Should -BeNullOrEmpty -Because $run.Output
        $run.Chunk.result.Roles | Should -Contain 'Application.Read.All'
        $run.Output | Should -Not -Match 'emulator-client-secret'
    }

    It 'keeps a panic inside the engine: an Internal error, the program ends normally' {
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        try { $run = Invoke-Abi @{ op = 'diagnostics.panic'; args = @{} } }
        finally { Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS -ErrorAction SilentlyContinue }
        $run.Exit | Should -Be 0 -Because $run.Output
        $run.Chunk.error.errorId | Should -Be 'ManagedIdentity.Internal'
    }
}
