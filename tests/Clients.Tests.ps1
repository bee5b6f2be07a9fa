#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 21: the emulator is accepted unmodified by Microsoft's own clients. tests/clients/ holds a
# pinned requirements file (msal, azure-identity, azure-mgmt-msi, azure-mgmt-automation,
# requests) and the cases (tests/clients/cases.json, run by tests/clients/cases.py): managed
# identity on every host and id kind each client supports, client secret, certificate (RS256 and
# PS256), federated assertion, workload identity, EnvironmentCredential, device code and
# interactive browser sign-in with a silent second resource, ARM through the management SDKs
# and Graph paging through azure-core. Each case is one child process with exactly the
# environment a real host gives (only loopback is reachable). With Azure.Identity's .NET
# assemblies (MANAGEDIDENTITY_AZURE_IDENTITY_PATH, or the peers folder beside the repository),
# the .NET managed-identity and client-secret cases run in pwsh too.
#
# The virtual environment is made under out/clients/venv and reused while the requirements
# file (and the Python version) are unchanged. Without Python or PyPI the Python cases skip,
# saying why, except in CI ($env:CI = 'true'), where they fail.

BeforeDiscovery {
    $script:Cases = @(Get-Content -Raw (Join-Path $PSScriptRoot 'clients/cases.json') | ConvertFrom-Json |
            ForEach-Object { @{ Name = $_.name; Title = $_.title } })
    $script:DotNetCases = @(
        @{ Name = 'dotnet-mi-appservice-system'; Title = 'Azure.Identity (.NET) ManagedIdentityCredential on App Service, system-assigned'; HostKey = 'appService' }
        @{ Name = 'dotnet-mi-automation-clientid'; Title = 'Azure.Identity (.NET) ManagedIdentityCredential on Automation, user-assigned by client id (MSAL.NET sends no Metadata header)'; HostKey = 'automation' }
        @{ Name = 'dotnet-mi-imds-resourceid'; Title = 'Azure.Identity (.NET) ManagedIdentityCredential on IMDS, user-assigned by resource id'; HostKey = 'imds' }
        @{ Name = 'dotnet-secret'; Title = 'Azure.Identity (.NET) ClientSecretCredential over --tls'; HostKey = $null }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    $script:ClientsDir = Join-Path $PSScriptRoot 'clients'
    $script:OutDir = Join-Path $RepoRoot 'out/clients'
    $script:RunDir = Join-Path $OutDir ("run-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-Item -ItemType Directory -Force -Path $RunDir
    $script:InCI = $env:CI -eq 'true'

    function Start-Bounded {
        <# Starts a program (arguments quoted as .NET parses them); Environment, when given, is
           the whole environment of the child. #>
        param([string] $FilePath, [string[]] $ArgumentList, [hashtable] $Environment)
        $info = [System.Diagnostics.ProcessStartInfo]::new($FilePath)
        $info.Arguments = ConvertTo-CommandLine $ArgumentList
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        $info.UseShellExecute = $false
        if ($Environment) {
            $info.EnvironmentVariables.Clear()
            foreach ($k in $Environment.Keys) { $info.EnvironmentVariables[$k] = [string] $Environment[$k] }
        }
        $process = [System.Diagnostics.Process]::Start($info)
        [pscustomobject]@{ Process = $process; Out = $process.StandardOutput.ReadToEndAsync(); Err = $process.StandardError.ReadToEndAsync(); Command = "$FilePath $($info.Arguments)" }
    }

    function Wait-Bounded {
        <# Waits at most TimeoutSec for a Start-Bounded process (killed after); exit code and output. #>
        param($Started, [int] $TimeoutSec)
        if (-not $Started.Process.WaitForExit($TimeoutSec * 1000)) {
            try { $Started.Process.Kill() } catch { }
            return [pscustomobject]@{ ExitCode = -1; Output = "timed out after $TimeoutSec s: $($Started.Command)" }
        }
        $Started.Process.WaitForExit()
        [pscustomobject]@{ ExitCode = $Started.Process.ExitCode; Output = ($Started.Out.Result + $Started.Err.Result).Trim() }
    }

    function Invoke-Bounded {
        param([string] $FilePath, [string[]] $ArgumentList, [int] $TimeoutSec)
        Wait-Bounded (Start-Bounded $FilePath $ArgumentList) $TimeoutSec
    }

    function Find-Python {
        foreach ($name in 'python3', 'python') {
            $command = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
            if (-not $command) { continue }
            $probe = Invoke-Bounded $command.Source @('-c', 'import sys, venv, ensurepip; print(sys.version.split()[0]); sys.exit(0 if sys.version_info >= (3, 9) else 1)') 30
            if ($probe.ExitCode -eq 0) { return [pscustomobject]@{ Path = $command.Source; Version = $probe.Output } }
        }
        $null
    }

    function Initialize-ClientsEnvironment {
        <# The virtual environment's python, made (or reused) from the pinned requirements; a
           string reason when it cannot be made. #>
        $python = Find-Python
        if (-not $python) { return 'Python 3.9+ with venv (python3 or python on PATH) is not available' }
        $requirements = Join-Path $ClientsDir 'requirements.txt'
        $stamp = (Get-FileHash -Algorithm SHA256 $requirements).Hash + ' ' + $python.Version
        $venv = Join-Path $OutDir 'venv'
        $venvPython = if (Test-OnWindows) { Join-Path $venv 'Scripts/python.exe' } else { Join-Path $venv 'bin/python' }
        $stampFile = Join-Path $venv 'requirements.stamp'
        if ((Test-Path $venvPython) -and (Test-Path $stampFile) -and ((Get-Content -Raw $stampFile).Trim() -eq $stamp)) { return $venvPython }
        if (Test-Path $venv) { Remove-Item -Recurse -Force $venv }
        $made = Invoke-Bounded $python.Path @('-m', 'venv', $venv) 120
        if ($made.ExitCode -ne 0) { return "python -m venv failed: $($made.Output)" }
        $pip = Invoke-Bounded $venvPython @('-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--timeout', '30', '--retries', '2', '-r', $requirements) 600
        if ($pip.ExitCode -ne 0) {
            $tail = ($pip.Output -split "`r?`n" | Select-Object -Last 3) -join ' '
            return "pip could not install tests/clients/requirements.txt (PyPI unreachable?): $tail"
        }
        Set-Content -Path $stampFile -Value $stamp
        $venvPython
    }

    function Get-ArcTokenDirectory {
        <# The Arc agent's fixed key directory, which msal and azure-identity insist on, when this
           machine lets the emulator write there. #>
        $dir = if (Test-OnWindows) { if ($env:ProgramData) { Join-Path $env:ProgramData 'AzureConnectedMachineAgent/Tokens' } } elseif ($PSVersionTable.OS -match 'Linux') { '/var/opt/azcmagent/tokens' }
        if (-not $dir) { return $null }
        try {
            $existed = Test-Path $dir
            $null = New-Item -ItemType Directory -Force -Path $dir -ErrorAction Stop
            $probe = Join-Path $dir "probe-$([guid]::NewGuid().ToString('N')).tmp"
            Set-Content -Path $probe -Value 'x' -ErrorAction Stop
            Remove-Item $probe -ErrorAction Stop
            [pscustomobject]@{ Path = (Resolve-Path $dir).Path; Created = -not $existed }
        }
        catch { $null }
    }

    function Test-PortFree {
        param([int] $Port)
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $Port)
        try { $listener.Start(); $true } catch { $false } finally { try { $listener.Stop() } catch { } }
    }

    $script:Unavailable = $null
    $script:Results = @{}
    $script:Emulator = $null
    $script:Arc = Get-ArcTokenDirectory
    $python = Initialize-ClientsEnvironment
    if (-not (Test-Path -LiteralPath $python -PathType Leaf)) { $script:Unavailable = $python; $python = $null }

    $certificate = Join-Path $RunDir 'emulator-certificate.pem'
    $arguments = @('--tls', $certificate)
    if ($Arc) { $arguments += @('--arc-token-dir', $Arc.Path) }
    if (Test-PortFree 50342) { $arguments += @('--cloud-shell-port', '50342') }
    $script:Emulator = Start-TestEmulator -ArgumentList $arguments
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    $https = $null
    while (-not $https -and [DateTime]::UtcNow -lt $deadline) {
        $https = Get-Content "$($Emulator.AddressFile).out" -ErrorAction SilentlyContinue | Where-Object { $_ -match 'listening on (https://\S+)' } | ForEach-Object { $Matches[1] } | Select-Object -First 1
        if (-not $https) { Start-Sleep -Milliseconds 50 }
    }
    if (-not $https) { throw 'the emulator did not print its https address' }
    $script:HttpsBase = $https
    $script:ContextFile = Join-Path $RunDir 'context.json'
    if ($python) {
        $setup = Invoke-Bounded $python @((Join-Path $ClientsDir 'cases.py'), 'setup', $Emulator.BaseUrl, $https, $certificate, $RunDir) 120
        if ($setup.ExitCode -ne 0) { throw "cases.py setup failed: $($setup.Output)" }
        $resultsFile = Join-Path $RunDir 'results.json'
        $run = Invoke-Bounded $python @((Join-Path $ClientsDir 'cases.py'), 'run', $ContextFile, $resultsFile) 900
        Write-Host $run.Output
        if (-not (Test-Path $resultsFile)) { throw "cases.py run wrote no results: $($run.Output)" }
        $parsed = Get-Content -Raw $resultsFile | ConvertFrom-Json
        foreach ($p in $parsed.PSObject.Properties) { $script:Results[$p.Name] = $p.Value }
    }
}

AfterAll {
    Stop-TestEmulator $Emulator
    if ($Arc -and $Arc.Created -and -not (Get-ChildItem -Force $Arc.Path -ErrorAction SilentlyContinue)) {
        Remove-Item $Arc.Path -ErrorAction SilentlyContinue
        $parent = Split-Path $Arc.Path -Parent
        if (-not (Get-ChildItem -Force $parent -ErrorAction SilentlyContinue)) { Remove-Item $parent -ErrorAction SilentlyContinue }
    }
    if ($RunDir) { Remove-Item -Recurse -Force $RunDir -ErrorAction SilentlyContinue }
}

# LinuxOnly (both Describes): the clients run as Linux child processes (Python, and pwsh for the
# .NET cases) against an emulator on --tls, which the Windows leg's emulator pool does not serve;
# a Windows pwsh under Wine cannot start Linux programs and read their output.
Describe 'Microsoft''s Python clients against mi-emulator --tls' -Tag 'LinuxOnly' {
    It '<Title>' -ForEach $Cases {
        if ($Unavailable) {
            if ($InCI) { throw "the Python clients cannot run in CI: $Unavailable" }
            Set-ItResult -Skipped -Because $Unavailable
            return
        }
        $result = $Results[$Name]
        if ($null -eq $result) { throw "no result for $Name" }
        if ($result.skipped) { Set-ItResult -Skipped -Because $result.reason; return }
        if (-not $result.ok) { throw "$($result.line)`n$($result.output)" }
        $result.line | Should -Match "^OK $([regex]::Escape($Name)):"
    }
}

Describe 'Microsoft''s .NET Azure.Identity in pwsh against mi-emulator' -Tag 'LinuxOnly' {
    BeforeAll {
        $script:AssemblyPath = $env:MANAGEDIDENTITY_AZURE_IDENTITY_PATH
        if (-not $AssemblyPath) { $script:AssemblyPath = Join-Path (Split-Path $RepoRoot -Parent) 'shared/peers/azure-identity' }
        $script:DotNetUnavailable = $null
        $pwsh = Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if (-not (Test-Path (Join-Path $AssemblyPath 'Azure.Identity.dll'))) {
            $script:DotNetUnavailable = "Azure.Identity's assemblies are not in '$AssemblyPath' (set MANAGEDIDENTITY_AZURE_IDENTITY_PATH to a folder holding Azure.Identity.dll and its dependencies)"
        }
        elseif (-not $pwsh) { $script:DotNetUnavailable = 'pwsh (PowerShell 7) is not on PATH' }
        elseif (-not (Test-Path $ContextFile)) { $script:DotNetUnavailable = "the cases' context was not made: $Unavailable" }
        $script:DotNetResults = @{}
        if ($DotNetUnavailable) { return }
        $info = Invoke-Emulator $Emulator -Path '/_emulator/info'
        # Every case at once, each in a fresh pwsh: this process's environment without any
        # identity variable, plus the host's variables and the loopback-only proxy guard.
        $closed = ([uri](Get-ClosedLoopbackUrl)).Port
        $running = foreach ($case in $DotNetCases) {
            $environment = @{}
            foreach ($entry in [Environment]::GetEnvironmentVariables().GetEnumerator()) {
                if ($entry.Key -notmatch '^(IDENTITY_|MSI_|IMDS_|AZURE_|AZUREPS_|HTTPS?_PROXY$|NO_PROXY$|ALL_PROXY$)') { $environment[$entry.Key] = $entry.Value }
            }
            $environment['HTTP_PROXY'] = "http://127.0.0.1:$closed"
            $environment['HTTPS_PROXY'] = "http://127.0.0.1:$closed"
            $environment['NO_PROXY'] = '127.0.0.1,localhost'
            if ($case.HostKey) { foreach ($p in $info.hosts.($case.HostKey).environment.PSObject.Properties) { $environment[$p.Name] = [string] $p.Value } }
            $arguments = @('-NoProfile', '-NonInteractive', '-File', (Join-Path $ClientsDir 'dotnet_case.ps1'), '-AssemblyPath', $AssemblyPath, '-Case', $case.Name, '-ContextFile', $ContextFile)
            [pscustomobject]@{ Name = $case.Name; Started = Start-Bounded $pwsh.Source $arguments $environment }
        }
        foreach ($r in $running) { $script:DotNetResults[$r.Name] = Wait-Bounded $r.Started 150 }
    }

    It '<Title>' -ForEach $DotNetCases {
        if ($DotNetUnavailable) { Set-ItResult -Skipped -Because $DotNetUnavailable; return }
        $result = $DotNetResults[$Name]
        if ($null -eq $result) { throw "no result for $Name" }
        if ($result.ExitCode -ne 0) { throw $result.Output }
        $result.Output | Should -Match "^OK $([regex]::Escape($Name)):"
    }
}
