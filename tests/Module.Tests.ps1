#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# How the module loads (Import-Module and dot-sourcing, nothing native at import) and how its
# contexts are protected (sealed type, bound to their runspace, freed with it).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:GraphUrl = $Emulator.BaseUrl
    # Fresh processes inherit this: no managed-identity source, IMDS redirected to a closed loopback port.
    Clear-IdentityEnvironment
    $script:ModulePath = Get-TestModulePath
    $script:Exported = @((Import-PowerShellDataFile (Join-Path $ModulePath 'ManagedIdentity.psd1')).CmdletsToExport | Sort-Object)

    function Get-EngineContextState {
        # Asks the engine directly (exported native entry points) whether a context handle is live:
        # 'live', or the error id the engine answers with.
        param([uint64] $Handle)
        $request = [Text.Encoding]::UTF8.GetBytes('{"op":"identity.context","args":{"context":' + $Handle + '}}')
        [uint64] $id = 0
        [ManagedIdentity.Interop.NativeMethods]::mi_operation_start($request, [byte[]]@(), [ref] $id) | Should -Be 'Ok'
        try {
            $buffer = [byte[]]::new(65536)
            [uint64] $length = 0
            do {
                $status = [ManagedIdentity.Interop.NativeMethods]::mi_operation_poll($id, 200, $buffer, [ref] $length)
                if ($status -eq 'Ok') {
                    $chunk = [ManagedIdentity.Interop.Json]::Parse([Text.Encoding]::UTF8.GetString($buffer, 0, $length))
                    if ($chunk.done) { if ($chunk.error) { return $chunk.error.errorId } else { return 'live' } }
                }
            } while ($status -eq 'Pending' -or $status -eq 'Ok')
            throw "poll failed: $status"
        }
        finally { $null = [ManagedIdentity.Interop.NativeMethods]::mi_operation_release($id) }
    }

    function Get-ContextHandle {
        param($Context)
        $Context.GetType().GetProperty('Handle', [Reflection.BindingFlags]'NonPublic,Instance').GetValue($Context)
    }
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Loading the module' {
    It 'Import-Module and dot-sourcing give the same compiled commands, and neither loads the engine' {
        $engine = if (Test-OnWindows) { 'managedidentity_engine.dll' } else { 'libmanagedidentity_engine' }
        $loaded = if (Test-OnWindows) {
            "[bool]((Get-Process -Id `$PID).Modules | Where-Object ModuleName -Like '$engine*')"
        }
        else {
            "[bool]([IO.File]::ReadAllText('/proc/self/maps').Contains('$engine'))"
        }
        foreach ($load in "Import-Module '$ModulePath'", ". '$(Join-Path $ModulePath 'ManagedIdentity.ps1')'") {
            $out = Invoke-FreshPwsh @"
$load
'commands=' + (((Get-Command Connect-Identity, Disconnect-Identity, Get-IdentityContext, Get-IdentityToken, Test-IdentityEndpoint, Get-GraphAppRole, Grant-GraphAppRole, Revoke-GraphAppRole, Set-GraphAppRole, Get-GraphAppRoleAssignment, Invoke-GraphApiRequest, Get-GraphAppRoleReport, Export-GraphAppRoleReport, New-UserAssignedIdentity, Get-UserAssignedIdentity, Remove-UserAssignedIdentity, Get-AutomationAccountIdentity, Set-AutomationAccountIdentity, Find-GraphPermission, Get-RunbookPermission, Test-RunbookPermission, Test-IdentityPermission -ErrorAction SilentlyContinue | Where-Object CommandType -EQ 'Cmdlet').Name | Sort-Object) -join ',')
'loadedAtImport=' + $loaded
`$null = Test-IdentityEndpoint -TimeoutSec 1
'loadedAfterFirstCall=' + $loaded
"@
            $out | Should -Contain "commands=$($Exported -join ',')" -Because $load
            $out | Should -Contain 'loadedAtImport=False' -Because $load
            $out | Should -Contain 'loadedAfterFirstCall=True' -Because $load
        }
    }

    It 'declares each cmdlet as a conventional binary-module type: <Verb><Noun>Command in ManagedIdentity.Interop.Commands' {
        foreach ($command in Get-Command -Module ManagedIdentity -CommandType Cmdlet) {
            $command.ImplementingType.FullName |
                Should -Be "ManagedIdentity.Interop.Commands.$($command.Verb)$($command.Noun)Command"
        }
        @(Get-Command -Module ManagedIdentity -CommandType Cmdlet).Count | Should -Be $Exported.Count
    }

    It 'names the runtime identifier and the folder when the engine for this platform is missing' {
        $copy = Join-Path ([IO.Path]::GetTempPath()) "mi-noengine-$([guid]::NewGuid())/ManagedIdentity"
        New-Item -ItemType Directory -Force $copy | Out-Null
        try {
            Copy-Item (Join-Path $ModulePath '*') $copy -Recurse -Exclude 'runtimes'
            $out = Invoke-FreshPwsh @"
Import-Module '$copy'
'imported=' + [bool](Get-Command Connect-Identity)
try { Test-IdentityEndpoint } catch { 'error=' + `$_.FullyQualifiedErrorId; 'message=' + `$_.Exception.Message }
"@
            $out | Should -Contain 'imported=True'
            $out | Should -Contain 'error=ManagedIdentity.EngineUnavailable,ManagedIdentity.Interop.Commands.TestIdentityEndpointCommand'
            $rid = [ManagedIdentity.Interop.NativeLoader]::RuntimeIdentifier
            ($out | Where-Object { $_ -like 'message=*' }) | Should -Match ([regex]::Escape($rid))
            ($out | Where-Object { $_ -like 'message=*' }) | Should -Match ([regex]::Escape((Join-Path $copy "runtimes/$rid/native")))
        }
        finally { Remove-Item -Recurse -Force (Split-Path $copy) }
    }
}

Describe 'Contexts cannot be forged or borrowed' {
    BeforeAll {
        Set-IdentityEnvironment $Emulator 'IMDS'
        $script:Own = Connect-Identity -Identity -GraphEndpoint $GraphUrl
    }

    It 'is a sealed type that script cannot construct' {
        $type = [ManagedIdentity.Context]
        $type.IsSealed | Should -BeTrue
        $type.GetConstructors().Count | Should -Be 0
        { [ManagedIdentity.Context]::new() } | Should -Throw
        { [ManagedIdentity.Context]@{ AuthType = 'AccessToken' } } | Should -Throw
    }

    It 'refuses a forged context object (<Command>)' -ForEach @(
        @{ Command = 'Get-IdentityToken' }, @{ Command = 'Get-IdentityContext' }, @{ Command = 'Get-GraphAppRole' }, @{ Command = 'Disconnect-Identity' }
    ) {
        $forged = [pscustomobject]@{ PSTypeName = 'ManagedIdentity.Context'; Handle = (Get-ContextHandle $Own); AuthType = 'ManagedIdentity' }
        $err = $null
        try { & $Command -Context $forged } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        # Refused by the command itself (parameter binding or the engine), named in InvocationInfo.
        $err.InvocationInfo.MyCommand.Name | Should -Be $Command
        $err.Exception.Message | Should -Not -Match 'eyJ'
        Get-EngineContextState (Get-ContextHandle $Own) | Should -Be 'live'
    }

    It 'refuses a context passed to another runspace with ManagedIdentity.ForeignContext' {
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        try {
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript("Import-Module '$ModulePath'
                foreach (`$command in 'Get-IdentityToken', 'Get-IdentityContext', 'Get-GraphAppRole', 'Invoke-GraphApiRequest', 'Disconnect-Identity') {
                    `$arguments = @{ Context = `$args[0] }
                    if (`$command -eq 'Invoke-GraphApiRequest') { `$arguments.Uri = '/v1.0/servicePrincipals' }
                    try { `$null = & `$command @arguments; `$command + '=accepted' } catch { `$_.InvocationInfo.MyCommand.Name + '=' + (`$_.FullyQualifiedErrorId -split ',')[0] }
                }").AddArgument($Own)
            $out = $ps.Invoke()
            $ps.Dispose()
        }
        finally { $runspace.Dispose() }
        foreach ($command in 'Get-IdentityToken', 'Get-IdentityContext', 'Get-GraphAppRole', 'Invoke-GraphApiRequest', 'Disconnect-Identity') {
            # The stable id before the comma, from the command named in InvocationInfo.
            $out | Should -Contain "$command=ManagedIdentity.ForeignContext"
        }
        # Still good in the runspace that owns it.
        Get-IdentityContext -Context $Own | Should -Not -BeNullOrEmpty
        Get-EngineContextState (Get-ContextHandle $Own) | Should -Be 'live'
    }

    It 'frees the engine contexts of a runspace when it closes' {
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        $null = $ps.AddScript("Import-Module '$ModulePath'; Connect-Identity -Identity -GraphEndpoint '$GraphUrl'; Connect-Identity -Identity -GraphEndpoint '$GraphUrl' -Resource 'https://vault.azure.net'")
        $contexts = @($ps.Invoke())
        $ps.Dispose()
        $contexts.Count | Should -Be 2
        $handles = @($contexts | ForEach-Object { Get-ContextHandle $_ })
        foreach ($handle in $handles) { Get-EngineContextState $handle | Should -Be 'live' }
        $runspace.Dispose()
        foreach ($handle in $handles) { Get-EngineContextState $handle | Should -Be 'ManagedIdentity.NotConnected' }
        Get-EngineContextState (Get-ContextHandle $Own) | Should -Be 'live'
    }

    It 'Disconnect-Identity frees the engine context' {
        $extra = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $handle = Get-ContextHandle $extra
        Get-EngineContextState $handle | Should -Be 'live'
        Disconnect-Identity -Context $extra
        Get-EngineContextState $handle | Should -Be 'ManagedIdentity.NotConnected'
        Get-IdentityContext | Should -BeNullOrEmpty
    }
}

Describe 'Engine facts reported by engine.info' {
    It 'a managed-identity token over plain http on loopback never creates an HTTPS client (issue 9)' {
        Set-IdentityEnvironment $Emulator 'Automation'
        try {
            $helpers = Join-Path $PSScriptRoot 'TestHelpers.psm1'
            $https = "https://127.0.0.1:$(([uri](Get-ClosedLoopbackUrl)).Port)"
            $out = Invoke-FreshPwsh @"
Import-Module '$ModulePath'
Import-Module '$helpers'
`$null = Connect-Identity -Identity -GraphEndpoint '$GraphUrl'
'token=' + ((Get-IdentityToken -AsPlainText).Length -gt 0)
'afterToken=' + (Get-EngineInfo -ModulePath '$ModulePath').httpsClientCreated
# The flag is live: the first https request (here to a closed loopback port) builds the client.
# A POST is sent once (a GET would be retried with backoff for some 20 s before failing).
`$null = Connect-Identity -Identity -GraphEndpoint '$https'
try { `$null = Invoke-GraphApiRequest -Method POST -Uri '/v1.0/servicePrincipals' -Body @{} -Confirm:`$false -ErrorAction Stop } catch { }
'afterHttps=' + (Get-EngineInfo -ModulePath '$ModulePath').httpsClientCreated
"@
        }
        finally { Clear-IdentityEnvironment }
        $out | Should -Contain 'token=True'
        $out | Should -Contain 'afterToken=False'
        $out | Should -Contain 'afterHttps=True'
    }

    It 'reports the engine version, the Cargo workspace version, in Get-IdentityContext, Test-IdentityEndpoint and engine.info (issue 13)' {
        . (Join-Path $PSScriptRoot '../powershell/build/Package.ps1')
        $version = Get-WorkspaceVersion (Join-Path $PSScriptRoot '..')
        $version | Should -Match '^\d+\.\d+\.\d+'
        (Get-EngineInfo).version | Should -Be $version
        Set-IdentityEnvironment $Emulator 'Automation'
        try {
            $context = Connect-Identity -Identity -GraphEndpoint $GraphUrl
            $context.EngineVersion | Should -Be $version
            (Get-IdentityContext).EngineVersion | Should -Be $version
            $context.ResourceManagerEndpoint | Should -Be 'https://management.azure.com' -Because 'the context names where the ARM commands go'
            $context.SubscriptionId | Should -BeNullOrEmpty
            $rows = @(Test-IdentityEndpoint -TimeoutSec 2)
            $rows.Count | Should -BeGreaterThan 1
            foreach ($row in $rows) { $row.EngineVersion | Should -Be $version -Because $row.Source }
        }
        finally { Disconnect-Identity -ErrorAction SilentlyContinue; Clear-IdentityEnvironment }
    }

    It 'the wording table (parameterNames) names only parameters the cmdlets have' {
        $names = @((Get-EngineInfo).parameterNames)
        $names.Count | Should -BeGreaterThan 0
        foreach ($entry in $names) {
            $command = Get-Command -Module ManagedIdentity -Name $entry.command -ErrorAction SilentlyContinue
            $command | Should -Not -BeNullOrEmpty -Because "engine.info names the command $($entry.command)"
            $command.Parameters.Keys | Should -Contain $entry.parameter -Because "engine.info names -$($entry.parameter) of $($entry.command)"
        }
    }
}
