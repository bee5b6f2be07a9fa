# Shared helpers for the Pester suites: build paths, the emulator's lifecycle and control API,
# and the environment that points the module at it. Every suite starts its own emulator on a free
# loopback port. Traffic never leaves loopback: IMDS is always redirected (to the emulator or to a
# closed loopback port), so nothing ever reaches 169.254.169.254.

$script:RepoRoot = Split-Path $PSScriptRoot -Parent
$script:IdentityVariables = @(
    'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET',
    'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID',
    'AZURE_AUTHORITY_HOST', 'AZUREPS_HOST_ENVIRONMENT'
)

# This file and PeImage.psm1 run on Windows PowerShell 5.1 too (tests/Compatibility.Tests.ps1
# checks them): no 7-only syntax, parameters or .NET Core-only APIs, and no $IsWindows.

function Test-OnWindows {
    # $IsWindows does not exist on Windows PowerShell 5.1, which only runs on Windows.
    [Environment]::OSVersion.Platform -eq [PlatformID]::Win32NT
}

function Test-DesktopEdition { $PSVersionTable.PSEdition -ne 'Core' }

function Get-PwshPath {
    # The PowerShell that runs the suite, for fresh processes: Windows PowerShell 5.1 tests in
    # powershell.exe, PowerShell 7 in the pwsh launcher on PATH (the current process may be hosted
    # by `dotnet`).
    if (Test-DesktopEdition) { return (Get-Process -Id $PID).Path }
    $command = Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($command) { return $command.Source }
    (Get-Process -Id $PID).Path
}

function ConvertTo-CommandLine {
    <# One command-line string from separate arguments, quoted as the MSVC runtime and .NET parse
       it (ProcessStartInfo.Arguments; ArgumentList exists only on .NET Core): an argument with
       white space or quotes is wrapped in quotes, embedded quotes and the backslashes before them
       (or before the closing quote) are escaped. #>
    param([AllowEmptyString()] [string[]] $ArgumentList)
    $quoted = foreach ($argument in $ArgumentList) {
        if ($argument -and $argument -notmatch '[\s"]') { $argument; continue }
        $builder = [System.Text.StringBuilder]::new('"')
        $backslashes = 0
        foreach ($c in $argument.ToCharArray()) {
            if ($c -eq [char]'\') { $backslashes++; continue }
            if ($c -eq [char]'"') { $null = $builder.Append([char]'\', 2 * $backslashes + 1) }
            elseif ($backslashes -gt 0) { $null = $builder.Append([char]'\', $backslashes) }
            $backslashes = 0
            $null = $builder.Append($c)
        }
        $null = $builder.Append([char]'\', 2 * $backslashes).Append('"')
        $builder.ToString()
    }
    @($quoted) -join ' '
}

function Get-TestModulePath { Join-Path $script:RepoRoot 'out/ManagedIdentity' }

function Get-EmulatorPath {
    # build.ps1 stages the emulator it built (whatever the cargo profile) beside the module.
    $exe = Join-Path $script:RepoRoot 'out/emulator/mi-emulator'
    if (Test-OnWindows) { $exe += '.exe' }
    if (-not (Test-Path $exe)) { throw "The emulator is not built ($exe); run ./build.ps1 first." }
    $exe
}

function Get-ClosedLoopbackUrl {
    # A loopback port nobody listens on: bind an ephemeral port, then release it.
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    $port = $listener.LocalEndpoint.Port
    $listener.Stop()
    "http://127.0.0.1:$port"
}

function Get-EmulatorPool {
    <# The emulator pool the Windows test leg hands in (build.ps1 Invoke-WindowsTestLeg):
       MANAGEDIDENTITY_TEST_EMULATOR_POOL=127.0.0.1:PORT, where `mi-emulator --pool` runs natively
       on the Linux side, because a Windows pwsh under Wine can start a Linux program but never
       sees its output or exit code. $null when the tests start their own emulators. #>
    $pool = $env:MANAGEDIDENTITY_TEST_EMULATOR_POOL
    if (-not $pool) { return $null }
    if ($pool -notmatch '^127\.0\.0\.1:(\d{1,5})$') { throw "MANAGEDIDENTITY_TEST_EMULATOR_POOL must be 127.0.0.1:PORT (loopback only), not '$pool'." }
    [int] $Matches[1]
}

function Start-PooledEmulator {
    # One emulator of the pool: it runs while this connection stays open (Stop-TestEmulator closes it).
    param([int] $Port, [string[]] $ArgumentList)
    $client = [System.Net.Sockets.TcpClient]::new()
    try {
        if (-not $client.ConnectAsync('127.0.0.1', $Port).Wait(10000)) { throw "The emulator pool at 127.0.0.1:$Port did not accept within 10 s." }
        $client.ReceiveTimeout = 30000; $client.SendTimeout = 30000
        $stream = $client.GetStream()
        $request = [Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject @($ArgumentList) -Compress) + "`n")
        $stream.Write($request, 0, $request.Length)
        $reader = [IO.StreamReader]::new($stream, [Text.UTF8Encoding]::new($false), $false, 1024, $true)
        $answer = $reader.ReadLine()
        if (-not $answer) { throw "The emulator pool at 127.0.0.1:$Port closed without an answer." }
        $parsed = ConvertFrom-Json $answer
        if (-not $parsed.PSObject.Properties['baseUrl']) { throw "The emulator pool refused: $($parsed.error)" }
        [pscustomobject]@{ Client = $client; BaseUrl = [string] $parsed.baseUrl }
    }
    catch { $client.Dispose(); throw }
}

function Start-TestEmulator {
    param([string[]] $ArgumentList = @())
    $header = "test-identity-header-$([guid]::NewGuid().ToString('N'))"
    $arguments = @('--port', '0', '--identity-header', $header, '--max-lifetime-secs', '1800') + $ArgumentList
    $pool = Get-EmulatorPool
    if ($pool) {
        $pooled = Start-PooledEmulator -Port $pool -ArgumentList $arguments
        return [pscustomobject]@{
            Process        = $null
            Pooled         = $pooled.Client
            BaseUrl        = $pooled.BaseUrl
            IdentityHeader = $header
            AddressFile    = $null
        }
    }
    $addressFile = Join-Path ([IO.Path]::GetTempPath()) "mi-emulator-$([guid]::NewGuid()).addr"
    $arguments += @('--address-file', $addressFile)
    $process = Start-Process -FilePath (Get-EmulatorPath) -ArgumentList (ConvertTo-CommandLine $arguments) -PassThru -RedirectStandardOutput "$addressFile.out" -RedirectStandardError "$addressFile.err"
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not (Test-Path $addressFile)) {
        if ($process.HasExited) { throw "The emulator exited early: $(Get-Content -Raw "$addressFile.err" -ErrorAction SilentlyContinue)" }
        if ([DateTime]::UtcNow -gt $deadline) { $process.Kill(); throw 'The emulator did not start within 30 s.' }
        Start-Sleep -Milliseconds 50
    }
    [pscustomobject]@{
        Process        = $process
        Pooled         = $null
        BaseUrl        = (Get-Content -Raw $addressFile).Trim()
        IdentityHeader = $header
        AddressFile    = $addressFile
    }
}

function Stop-TestEmulator {
    param($Emulator)
    if ($null -eq $Emulator) { return }
    if ($Emulator.Pooled) { $Emulator.Pooled.Dispose(); return }
    if (-not $Emulator.Process.HasExited) { $Emulator.Process.Kill(); $null = $Emulator.Process.WaitForExit(5000) }
    Remove-Item "$($Emulator.AddressFile)*" -ErrorAction SilentlyContinue
}

function Invoke-Emulator {
    param($Emulator, [string] $Method = 'GET', [string] $Path, $Body)
    $parameters = @{ Method = $Method; Uri = "$($Emulator.BaseUrl)$Path"; TimeoutSec = 30 }
    if ($PSBoundParameters.ContainsKey('Body')) {
        $parameters.Body = ConvertTo-Json -InputObject $Body -Depth 10 -Compress
        $parameters.ContentType = 'application/json'
    }
    Invoke-RestMethod @parameters
}

function Get-EmulatorStats { param($Emulator) Invoke-Emulator $Emulator -Path '/_emulator/stats' }
function Reset-EmulatorStats { param($Emulator) $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/stats/reset' }
function Add-EmulatorFault { param($Emulator, [hashtable] $Fault) $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/faults' -Body $Fault }
function Clear-EmulatorFaults { param($Emulator) $null = Invoke-Emulator $Emulator -Method DELETE -Path '/_emulator/faults' }
function Set-EmulatorConfig { param($Emulator, [hashtable] $Config) $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/config' -Body $Config }
function Get-EmulatorSeed { param($Emulator) Invoke-Emulator $Emulator -Path '/_emulator/seed' }

function New-EmulatorToken {
    <#
        An access token the emulator's Graph accepts (its kid and issuer; the emulator does not check
        signatures), with the given claims over a one-hour Graph default: for a token no sign-in of
        the emulator issues (a role or scope set chosen by the test).
    #>
    param([Parameter(Mandatory)] [hashtable] $Claims)
    $b64 = { param($t) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($t)).TrimEnd('=').Replace('+', '-').Replace('/', '_') }
    $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    $body = @{ aud = 'https://graph.microsoft.com'; iat = $now; nbf = $now; exp = $now + 3600 }
    foreach ($key in $Claims.Keys) { $body[$key] = $Claims[$key] }
    if (-not $body.ContainsKey('iss')) { throw 'New-EmulatorToken needs an iss claim: https://sts.windows.net/<the seed tenantId>/' }
    $header = & $b64 '{"alg":"none","typ":"JWT","kid":"mi-emulator"}'
    $payload = & $b64 ($body | ConvertTo-Json -Compress -Depth 5)
    ConvertTo-SecureString "$header.$payload.c2ln" -AsPlainText -Force
}

function Set-IdentityEnvironment {
    <#
        Points the process environment (what the module snapshots) at one managed-identity source
        of the emulator: IMDS, AppService, Automation, or None (nothing detected; IMDS redirected to
        a closed loopback port).
    #>
    param($Emulator, [ValidateSet('IMDS', 'AppService', 'Automation', 'None')] [string] $Source)
    Clear-IdentityEnvironment
    switch ($Source) {
        'IMDS' { $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emulator.BaseUrl }
        'AppService' {
            $env:IDENTITY_ENDPOINT = "$($Emulator.BaseUrl)/msi/token"
            $env:IDENTITY_HEADER = $Emulator.IdentityHeader
        }
        'Automation' {
            $env:IDENTITY_ENDPOINT = "$($Emulator.BaseUrl)/automation/token"
            $env:IDENTITY_HEADER = $Emulator.IdentityHeader
            $env:AZUREPS_HOST_ENVIRONMENT = 'AzureAutomation'
        }
        'None' { }
    }
}

function Clear-IdentityEnvironment {
    foreach ($name in $script:IdentityVariables) { [Environment]::SetEnvironmentVariable($name, $null) }
    # Never let a test reach the real IMDS address.
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = Get-ClosedLoopbackUrl
}

function Invoke-FreshPwsh {
    <# Runs a script in a new pwsh process (fresh runspace and module state, this process's
       environment); returns its output lines (stdout then stderr) and sets $script:LastExitCode.
       -ExecutionPolicy RemoteSigned tests what an installed pwsh on Windows enforces. #>
    param([Parameter(Mandatory)] [string] $Script, [int] $TimeoutSec = 120,
        [ValidateSet('Bypass', 'RemoteSigned')] [string] $ExecutionPolicy = 'Bypass')
    $file = Join-Path ([IO.Path]::GetTempPath()) "mi-test-$([guid]::NewGuid()).ps1"
    Set-Content -Path $file -Value $Script -Encoding utf8
    try {
        $info = [System.Diagnostics.ProcessStartInfo]::new((Get-PwshPath))
        $info.Arguments = ConvertTo-CommandLine @('-NoProfile', '-NonInteractive', '-ExecutionPolicy', $ExecutionPolicy, '-File', $file)
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        $info.UseShellExecute = $false
        $process = [System.Diagnostics.Process]::Start($info)
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit($TimeoutSec * 1000)) { $process.Kill(); throw "fresh pwsh did not finish within $TimeoutSec s" }
        $process.WaitForExit()
        $script:LastExitCode = $process.ExitCode
        @($stdout.Result -split "`r?`n") + @($stderr.Result -split "`r?`n") | Where-Object { $_ -ne '' }
    }
    finally { Remove-Item $file -ErrorAction SilentlyContinue }
}

function Get-FreshPwshExitCode { $script:LastExitCode }

function Invoke-EngineOperation {
    <# Runs one engine operation through the exported native entry points (the module must be
       imported; NativeLoader.Initialize loads the engine from it) and returns the final chunk,
       parsed: { done, result, error, ... }. Bounded: 30 s. #>
    param([Parameter(Mandatory)] [string] $Request, [string] $ModulePath = (Get-TestModulePath))
    [ManagedIdentity.Interop.NativeLoader]::Initialize($ModulePath)
    $bytes = [Text.Encoding]::UTF8.GetBytes($Request)
    [uint64] $id = 0
    $status = [ManagedIdentity.Interop.NativeMethods]::mi_operation_start($bytes, [byte[]]@(), [ref] $id)
    if ("$status" -ne 'Ok') { throw "mi_operation_start: $status" }
    try {
        $buffer = [byte[]]::new(1048576)
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline) {
            [uint64] $length = 0
            $status = [ManagedIdentity.Interop.NativeMethods]::mi_operation_poll($id, 200, $buffer, [ref] $length)
            if ("$status" -eq 'Pending') { continue }
            if ("$status" -ne 'Ok') { throw "mi_operation_poll: $status" }
            $chunk = [ManagedIdentity.Interop.Json]::Parse([Text.Encoding]::UTF8.GetString($buffer, 0, [int]$length))
            if ($chunk.done) { return $chunk }
        }
        throw "the engine did not finish $Request within 30 s"
    }
    finally { $null = [ManagedIdentity.Interop.NativeMethods]::mi_operation_release($id) }
}

function Get-EngineInfo {
    <# The engine's engine.info result: version, environmentVariables, parameterNames,
       httpsClientCreated. #>
    param([string] $ModulePath = (Get-TestModulePath))
    (Invoke-EngineOperation -Request '{"op":"engine.info"}' -ModulePath $ModulePath).result
}

function Remove-TestFolder {
    # Removes a test's folder. Windows may still hold the engine and assembly files that fresh
    # processes mapped for a moment after they exit ("Directory is not empty"): a few bounded
    # retries, then the error.
    param([string] $Path)
    if (-not $Path) { return }
    for ($try = 1; $try -lt 10 -and (Test-Path -LiteralPath $Path); $try++) {
        try { Remove-Item -LiteralPath $Path -Recurse -Force -ErrorAction Stop } catch { Start-Sleep -Milliseconds 300 }
    }
    if (Test-Path -LiteralPath $Path) { Remove-Item -LiteralPath $Path -Recurse -Force }
}

Export-ModuleMember -Function *

# ---------------------------------------------------------------------------------------------
# Issue 12 hosts (tests/Hosts.Tests.ps1): Azure Arc, Cloud Shell, Azure ML / legacy MSI and
# Service Fabric, with the environment the emulator's /_emulator/info reports for each.
# ---------------------------------------------------------------------------------------------

$script:HostVariables = @('MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY', 'DEFAULT_IDENTITY_CLIENT_ID')

function Get-EmulatorInfo { param($Emulator) Invoke-Emulator $Emulator -Path '/_emulator/info' }

function Clear-HostEnvironment {
    <# Clear-IdentityEnvironment plus the variables only the issue-12 hosts read. #>
    Clear-IdentityEnvironment
    foreach ($name in $script:HostVariables) { [Environment]::SetEnvironmentVariable($name, $null) }
}

function Set-HostEnvironment {
    <#
        Points the process environment at one host of the emulator: exactly the variables
        /_emulator/info lists for it (IMDS stays redirected to a closed loopback port). For Arc it
        also sets MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY to the emulator's token directory,
        the only way the client accepts a key file outside the agent's real directory.
    #>
    param($Emulator, [ValidateSet('Arc', 'CloudShell', 'MachineLearning', 'ServiceFabric')] [string] $HostName)
    Clear-HostEnvironment
    $info = Get-EmulatorInfo $Emulator
    $key = $HostName.Substring(0, 1).ToLowerInvariant() + $HostName.Substring(1)
    $hostInfo = $info.hosts.$key
    foreach ($variable in $hostInfo.environment.PSObject.Properties) {
        [Environment]::SetEnvironmentVariable($variable.Name, [string] $variable.Value)
    }
    if ($HostName -eq 'Arc') { $env:MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY = $hostInfo.tokenDirectory }
    $hostInfo
}

Export-ModuleMember -Function Get-EmulatorInfo, Clear-HostEnvironment, Set-HostEnvironment
