#Requires -Version 7.2
<#
.SYNOPSIS
    Builds, tests, benchmarks and packages the ManagedIdentity module.
.DESCRIPTION
    Build   (default) cargo build --release (-CargoProfile), regenerate the C# bindings, compile the interop
            assembly (netstandard2.0, with the Roslyn compiler that ships inside pwsh) and stage an
            importable module at out/ManagedIdentity.
    Test    Build, then run every Rust test (cargo test) and every Pester suite under tests/,
            and print one closing line "N passed, N failed" counting both.
    Bench   Build, then run tests/Bench.ps1 (figures printed as a table and written to
            out/bench/results.md), then tests/Bench.Windows.ps1: the cold-start and bulk figures
            in a Windows pwsh against the win-x64 engine (on Linux the one
            MANAGEDIDENTITY_WINDOWS_PWSH names, under Wine; skipped, saying why, without it).
    Package Build, add the engines this machine can cross-build (win-x64 and linux-arm64 on
            Linux x64 when their gcc cross compilers and Rust targets are installed; see
            $CrossEngines) and any engines under -EnginePath, then write
            out/ManagedIdentity.<version>.nupkg (Gallery) and out/ManagedIdentity.zip (Azure
            Automation import); see powershell/build/Package.ps1.
    Assemble  Build, then add the engines found under -EnginePath (runtimes/<rid>/native/*, as
            other machines built them) to out/ManagedIdentity: one module for every runtime.
.EXAMPLE
    pwsh ./build.ps1                 # build; then: Import-Module ./out/ManagedIdentity
.EXAMPLE
    pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Bench', 'Package', 'Assemble')]
    [string] $Task = 'Build',
    # Engines built elsewhere (Assemble, Package): a folder holding runtimes/<rid>/native/<library>.
    [string] $EnginePath,
    # The cargo profile of the engine and the emulator: 'testing' (Cargo.toml: release semantics,
    # no LTO, quick to link) for the Test task, 'release' for everything that ships or is measured.
    [ValidateSet('release', 'testing')]
    [string] $CargoProfile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleSource = Join-Path $Root 'powershell/ManagedIdentity'
$ModuleOut = Join-Path $Out 'ManagedIdentity'
$CargoTarget = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $Root 'target' }
if (-not $CargoProfile) { $CargoProfile = if ($Task -eq 'Test') { 'testing' } else { 'release' } }
$CargoOutput = Join-Path $CargoTarget $CargoProfile
# The Windows test leg cross-builds with the testing profile's opt-level-0 variant (Cargo.toml
# [profile.testing-windows]): it compiles the core crate's test programs in half the time, and
# what runs under Wine waits on I/O, not on optimised code.
$WindowsLegProfile = if ($CargoProfile -eq 'testing') { 'testing-windows' } else { $CargoProfile }
# The emulator the tests and the bench start (tests/TestHelpers.psm1 Get-EmulatorPath), staged
# beside the module so they never depend on a cargo profile's folder.
$EmulatorOut = Join-Path $Out 'emulator'
. (Join-Path $Root 'powershell/build/Package.ps1')

# Reference packages: name, version and the SHA-512 of the .nupkg we accept.
$Packages = @{
    NETStandardLibrary = @{
        Id = 'NETStandard.Library'; Version = '2.0.3'
        Sha512 = 'E78F0CEA69C14895B1B089644077DBCE8631A626055D96522F4D29E061D8BFC3E48AA1419E74FAF265B998612C03F721F5F0CEF4690F824150A5689764DEE601'
    }
    PowerShellStandardLibrary = @{
        Id = 'PowerShellStandard.Library'; Version = '5.1.1'
        Sha512 = '198651332474B78694374C35E34A8D59ECE635DCF53730DAA36E48AAC5A858A39BEFBC0441A6C04B2407C159E003856FE074C2EF9550FE204375C147E051665F'
    }
    Pester = @{
        Id = 'Pester'; Version = '5.7.1'
        Sha512 = '0419649AAEA0B783B24ED06E97D6BE7AB0401018D7D4F928E75507427578493BA0927D46B3FAAE89127E58804008A774732A32F4CCC9BF9FADE61C59A9564BD4'
    }
}

function Set-ProcessVariable {
    # Sets or (for $null) removes a variable of this process. [Environment]::SetEnvironmentVariable
    # called from PowerShell with $null sets it to '' instead (PowerShell passes $null as '' to a
    # string parameter), and tools read an empty RUSTC as a program named ''.
    param([Parameter(Mandatory)] [string] $Name, [AllowNull()] [AllowEmptyString()] [string] $Value)
    if ($null -eq $PSBoundParameters['Value'] -or $PSBoundParameters['Value'] -eq '') { Remove-Item "Env:$Name" -ErrorAction SilentlyContinue }
    else { Set-Item "Env:$Name" $Value }
}

function Invoke-Checked {
    param([string] $FilePath, [string[]] $ArgumentList)
    Write-Host "> $FilePath $($ArgumentList -join ' ')" -ForegroundColor DarkGray
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "$FilePath exited with code $LASTEXITCODE" }
}

function Get-Package {
    # Finds a .nupkg in $env:MANAGEDIDENTITY_PACKAGE_SOURCE, the local NuGet cache or nuget.org,
    # checks its SHA-512 and returns the path of a verified copy under out/packages.
    param([hashtable] $Package)
    $fileName = "$($Package.Id.ToLowerInvariant()).$($Package.Version).nupkg"
    $verified = Join-Path $Out "packages/$fileName"
    if (Test-Path $verified) { return $verified }
    $candidates = @()
    if ($env:MANAGEDIDENTITY_PACKAGE_SOURCE) { $candidates += Join-Path $env:MANAGEDIDENTITY_PACKAGE_SOURCE $fileName }
    $nugetHome = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $candidates += Join-Path $nugetHome "$($Package.Id.ToLowerInvariant())/$($Package.Version)/$fileName"
    $source = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
    New-Item -ItemType Directory -Force (Split-Path $verified) | Out-Null
    $download = "$verified.download"
    if ($source) {
        Copy-Item $source $download -Force
    }
    else {
        $uri = "https://www.nuget.org/api/v2/package/$($Package.Id)/$($Package.Version)"
        Write-Host "Downloading $uri"
        Invoke-WebRequest -Uri $uri -OutFile $download -UseBasicParsing
    }
    $hash = (Get-FileHash -Algorithm SHA512 $download).Hash
    if ($hash -ne $Package.Sha512) {
        Remove-Item $download -Force
        throw "$fileName has SHA-512 $hash, expected $($Package.Sha512); refusing to use it."
    }
    Move-Item $download $verified -Force
    return $verified
}

function Expand-PackageEntry {
    param([string] $Nupkg, [string] $Entry, [string] $Destination)
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    $zip = [System.IO.Compression.ZipFile]::OpenRead($Nupkg)
    try {
        $item = $zip.Entries | Where-Object FullName -EQ $Entry
        if (-not $item) { throw "$Entry is not in $Nupkg" }
        New-Item -ItemType Directory -Force (Split-Path $Destination) | Out-Null
        [System.IO.Compression.ZipFileExtensions]::ExtractToFile($item, $Destination, $true)
    }
    finally { $zip.Dispose() }
}

function Build-Engine {
    # One cargo build for the engine, the emulator and the bindings generator (an example, so it
    # brings the FFI crate's dev-dependencies): one feature resolution, so every dependency compiles
    # once, with the features `cargo test --workspace` resolves too (a separate `cargo run` of the
    # example resolved fewer and compiled tokio, hyper, reqwest and the engine a second time).
    Invoke-Checked cargo @('build', '--profile', $CargoProfile, '-p', 'managed-identity-ffi', '-p', 'managed-identity-emulator',
        '--lib', '--bins', '--example', 'generate_bindings')
    $bindings = Join-Path $ModuleSource 'interop/NativeMethods.g.cs'
    $generator = Join-Path $CargoOutput "examples/generate_bindings$(if ($IsWindows) { '.exe' })"
    Invoke-Checked $generator @($bindings)
    $emulator = if ($IsWindows) { 'mi-emulator.exe' } else { 'mi-emulator' }
    New-Item -ItemType Directory -Force $EmulatorOut | Out-Null
    Publish-File (Join-Path $CargoOutput $emulator) (Join-Path $EmulatorOut $emulator) -Copy
}

function Build-InteropAssembly {
    # Compiles interop/*.cs into a netstandard2.0 assembly with the Roslyn that ships in pwsh,
    # so the same DLL loads in Windows PowerShell 5.1 and PowerShell 7.
    # Reference assemblies: netstandard 2.0, and System.Management.Automation from
    # PowerShellStandard.Library (the API common to Windows PowerShell 5.1 and PowerShell 7).
    $reference = Join-Path $Out 'obj/ref/netstandard.dll'
    if (-not (Test-Path $reference)) {
        $nupkg = Get-Package $Packages.NETStandardLibrary
        Expand-PackageEntry $nupkg 'build/netstandard2.0/ref/netstandard.dll' $reference
    }
    $automation = Join-Path $Out 'obj/ref/System.Management.Automation.dll'
    if (-not (Test-Path $automation)) {
        $nupkg = Get-Package $Packages.PowerShellStandardLibrary
        Expand-PackageEntry $nupkg 'lib/netstandard2.0/System.Management.Automation.dll' $automation
    }
    foreach ($name in 'Microsoft.CodeAnalysis.dll', 'Microsoft.CodeAnalysis.CSharp.dll') {
        [void][Reflection.Assembly]::LoadFrom((Join-Path $PSHOME $name))
    }
    $parseOptions = [Microsoft.CodeAnalysis.CSharp.CSharpParseOptions]::new([Microsoft.CodeAnalysis.CSharp.LanguageVersion]::CSharp7_3)
    $trees = [System.Collections.Generic.List[Microsoft.CodeAnalysis.SyntaxTree]]::new()
    foreach ($file in Get-ChildItem (Join-Path $ModuleSource 'interop') -Filter *.cs -Recurse | Sort-Object FullName) {
        $text = [Microsoft.CodeAnalysis.Text.SourceText]::From([IO.File]::ReadAllText($file.FullName), [Text.Encoding]::UTF8)
        $trees.Add([Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree]::ParseText($text, $parseOptions, $file.Name, [Threading.CancellationToken]::None))
    }
    $options = [Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions]::new([Microsoft.CodeAnalysis.OutputKind]::DynamicallyLinkedLibrary).
        WithOptimizationLevel([Microsoft.CodeAnalysis.OptimizationLevel]::Release).
        WithAllowUnsafe($true).
        WithDeterministic($true)
    $references = [Microsoft.CodeAnalysis.MetadataReference[]]@(
        [Microsoft.CodeAnalysis.MetadataReference]::CreateFromFile($reference)
        [Microsoft.CodeAnalysis.MetadataReference]::CreateFromFile($automation))
    $compilation = [Microsoft.CodeAnalysis.CSharp.CSharpCompilation]::Create('ManagedIdentity.Interop', [Microsoft.CodeAnalysis.SyntaxTree[]]$trees.ToArray(), $references, $options)
    $dll = Join-Path $ModuleOut 'bin/ManagedIdentity.Interop.dll'
    New-Item -ItemType Directory -Force (Split-Path $dll) | Out-Null
    $staging = "$dll.new"
    $image = [IO.MemoryStream]::new()
    $result = $compilation.Emit($image)
    $problems = @($result.Diagnostics | Where-Object { $_.Severity -ge [Microsoft.CodeAnalysis.DiagnosticSeverity]::Warning })
    if (-not $result.Success -or $problems.Count -gt 0) {
        $problems | ForEach-Object { Write-Host $_.ToString() -ForegroundColor Red }
        throw 'The interop assembly did not compile cleanly.'
    }
    $bytes = $image.ToArray()
    [IO.File]::WriteAllBytes($staging, $bytes)
    Publish-File $staging $dll
}

function Publish-File {
    # Replaces a file by rename, so a pwsh that has the old copy loaded keeps a valid mapping.
    param([string] $Source, [string] $Destination, [switch] $Copy)
    $staging = "$Destination.new"
    if ($Copy) { Copy-Item $Source $staging -Force } elseif ($Source -ne $staging) { Move-Item $Source $staging -Force }
    [IO.File]::Move($staging, $Destination, $true)
}

function Build-ModuleFolder {
    # Stages out/ManagedIdentity: manifest, the dot-sourceable entry script, the compiled cmdlets
    # (bin/, by Build-InteropAssembly), their help (en-US/, by Build-Help) and the native engine.
    foreach ($file in 'ManagedIdentity.psd1', 'ManagedIdentity.ps1') {
        Copy-Item (Join-Path $ModuleSource $file) $ModuleOut -Force
    }
    # The about_ topic (en-US/, and bin/en-US/ where Get-Help looks after dot-sourcing, whose module
    # base is bin/) and the format views (formats/, loaded on first output: interop/FormatLoader.cs).
    foreach ($culture in 'en-US', 'bin/en-US') {
        New-Item -ItemType Directory -Force (Join-Path $ModuleOut $culture) | Out-Null
        Copy-Item (Join-Path $ModuleSource 'en-US/*.help.txt') (Join-Path $ModuleOut $culture) -Force
    }
    $formats = Join-Path $ModuleOut 'formats'
    if (Test-Path $formats) { Remove-Item $formats -Recurse -Force }
    New-Item -ItemType Directory -Force $formats | Out-Null
    Copy-Item (Join-Path $ModuleSource 'formats/*.format.ps1xml') $formats
    # Files of earlier layouts must not linger in a reused out/ folder.
    foreach ($stale in 'ManagedIdentity.psm1', 'ManagedIdentity.Format.ps1xml') {
        Remove-Item (Join-Path $ModuleOut $stale) -ErrorAction SilentlyContinue
    }

    $rid = Get-RuntimeIdentifier
    $native = Join-Path $ModuleOut "runtimes/$rid/native"
    New-Item -ItemType Directory -Force $native | Out-Null
    $library = if ($IsWindows) { 'managedidentity_engine.dll' } elseif ($IsMacOS) { 'libmanagedidentity_engine.dylib' } else { 'libmanagedidentity_engine.so' }
    Publish-File (Join-Path $CargoOutput $library) (Join-Path $native $library) -Copy
}

function Build-Help {
    # The MAML help of the compiled cmdlets, from powershell/ManagedIdentity/help (the one source),
    # generated by powershell/build/ConvertTo-MamlHelp.ps1 in a fresh pwsh that imports the staged module.
    $output = Join-Path $ModuleOut 'en-US/ManagedIdentity.Interop.dll-Help.xml'
    $pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
    Invoke-Checked $pwsh @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'powershell/build/ConvertTo-MamlHelp.ps1'),
        '-ModulePath', $ModuleOut, '-HelpSource', (Join-Path $ModuleSource 'help/ManagedIdentity.Help.psd1'), '-OutputPath', $output,
        '-ProjectUri', (Get-ProjectUri $Root))
    # Dot-sourcing ManagedIdentity.ps1 imports bin/ManagedIdentity.Interop.dll itself, whose module
    # base is bin/: Get-Help looks for the file there.
    New-Item -ItemType Directory -Force (Join-Path $ModuleOut 'bin/en-US') | Out-Null
    Copy-Item $output (Join-Path $ModuleOut 'bin/en-US') -Force
}

# The engines the Package task cross-builds on this machine, each with its Rust target and the C
# cross compiler (Debian package) that links it and compiles ring's C and assembly. rustls uses the
# ring provider, so no Windows SDK, cmake or nasm is needed. macOS is not here: linking needs
# Apple's SDK (CI builds osx-* natively).
$CrossEngines = @(
    # Azure Automation cloud sandboxes are Windows (the engine imports only system DLLs:
    # tests/Package.Tests.ps1 checks its PE import table).
    [pscustomobject]@{ Rid = 'win-x64'; Target = 'x86_64-pc-windows-gnu'; Gcc = 'x86_64-w64-mingw32-gcc'; Debian = 'gcc-mingw-w64-x86-64'; Library = 'managedidentity_engine.dll' }
    [pscustomobject]@{ Rid = 'linux-arm64'; Target = 'aarch64-unknown-linux-gnu'; Gcc = 'aarch64-linux-gnu-gcc'; Debian = 'gcc-aarch64-linux-gnu'; Library = 'libmanagedidentity_engine.so' }
    [pscustomobject]@{ Rid = 'linux-x64'; Target = 'x86_64-unknown-linux-gnu'; Gcc = 'x86_64-linux-gnu-gcc'; Debian = 'gcc-x86-64-linux-gnu'; Library = 'libmanagedidentity_engine.so' }
)

function Get-CrossBuildSetting {
    # How cargo cross-builds for one engine of $CrossEngines on this machine: Why ('' when it
    # can), Variables (the linker, C compiler and archiver; RUSTC for -Z build-std) and
    # Arguments (-Z build-std when no rustup target is installed), or why it cannot.
    param([Parameter(Mandatory)] $Engine)
    $target = $Engine.Target
    $gcc = Get-Command $Engine.Gcc -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $gcc) { return [pscustomobject]@{ Why = "no $($Engine.Gcc) (Debian: apt-get install $($Engine.Debian))" } }
    $rustup = Get-Command rustup -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $hasTarget = $rustup -and (@(& $rustup.Source target list --installed 2>$null) -contains $target)
    $key = $target.Replace('-', '_')
    $variables = @{
        "CARGO_TARGET_$($key.ToUpperInvariant())_LINKER" = $gcc.Source
        "CC_$key"                                        = $gcc.Source
        "AR_$key"                                        = $gcc.Source -replace 'gcc$', 'ar'
    }
    $arguments = @()
    if (-not $hasTarget) {
        $rustc = if ($env:MANAGEDIDENTITY_CROSS_RUSTC) { $env:MANAGEDIDENTITY_CROSS_RUSTC } else { '/usr/bin/rustc' }
        $sysroot = if (Test-Path $rustc) { (& $rustc --print sysroot).Trim() } else { $null }
        if (-not $sysroot -or -not (Test-Path (Join-Path $sysroot 'lib/rustlib/src/rust/library'))) {
            return [pscustomobject]@{ Why = "no Rust standard library for $target (rustup target add $target, or a rustc with standard-library sources in MANAGEDIDENTITY_CROSS_RUSTC)" }
        }
        $variables.RUSTC = $rustc; $variables.RUSTC_BOOTSTRAP = '1'
        $arguments += @('-Z', 'build-std=std,panic_unwind')
    }
    [pscustomobject]@{ Why = ''; Variables = $variables; Arguments = $arguments; TargetDir = (Join-Path $CargoTarget $Engine.Rid) }
}

function Get-CrossCargoArgument {
    # cargo's arguments for the engine library (default) or, -Tests, the Windows leg's Rust tests:
    # the core crate's unit tests and its integration tests (rust/core/tests/it, one binary) and
    # the FFI crate's unit tests (the wire: rust/ffi/src/protocol, the operation queue), built
    # not run. Same profile and target folder, so both share the standard library and every
    # dependency whose features agree (build.ps1 Start-WindowsLegBuild runs them one after another).
    # -WithEmulator: the engine build also compiles the emulator's library, which the tests link
    # (a dev-dependency of core): its features (tokio's signal, hyper's server...) then join the
    # engine's resolution, so the tests' build reuses every dependency instead of compiling
    # tokio, hyper, reqwest, h2 and windows-sys a second time with other features.
    param([Parameter(Mandatory)] $Engine, [Parameter(Mandatory)] $Setting, [string] $CargoProfile, [switch] $Tests, [switch] $WithEmulator)
    $arguments = if ($Tests) { @('test', '--no-run', '--profile', $CargoProfile, '-p', 'managed-identity-core', '-p', 'managed-identity-ffi', '--lib', '--test', 'it') }
    elseif ($WithEmulator) { @('build', '--profile', $CargoProfile, '-p', 'managed-identity-ffi', '-p', 'managed-identity-emulator', '--lib') }
    else { @('build', '--profile', $CargoProfile, '-p', 'managed-identity-ffi', '--lib') }
    $std = $Setting.Arguments
    if ($CargoProfile -like 'testing*' -and $std) {
        # A test build adds libtest to the standard library it builds, and cargo makes every crate
        # depend on all of those: without `test` here too, each dependency would compile twice.
        $std = @($std | ForEach-Object { if ($_ -like 'build-std=*') { "$_,test" } else { $_ } })
    }
    $arguments + @('--target', $Engine.Target) + $std + @('--target-dir', $Setting.TargetDir)
}

function Use-CrossBuildVariable {
    # Runs $Action with the setting's variables set in this process, then restores them. (The
    # block sees this function's variables first: callers' blocks must not use $Action or $saved.)
    param([Parameter(Mandatory)] $Setting, [Parameter(Mandatory)] [scriptblock] $Action)
    $saved = @{}
    foreach ($name in $Setting.Variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); Set-ProcessVariable $name $Setting.Variables[$name] }
    try { & $Action }
    finally {
        foreach ($name in $saved.Keys) { Set-ProcessVariable $name $saved[$name] }
    }
}

function Build-CrossEngine {
    # Cross-builds one engine of $CrossEngines into out/ManagedIdentity/runtimes/<rid>/native.
    # Needs the C cross compiler and either the rustup target (`rustup target add <target>`) or a
    # rustc whose sysroot has the standard-library sources for `-Z build-std`, e.g. Debian's
    # `rustc-web rust-web-src` (/usr/bin/rustc, or set MANAGEDIDENTITY_CROSS_RUSTC to such a rustc).
    # Returns why it could not build ('' when it did); a failing cargo build throws. The Test task's
    # Windows leg builds with the 'testing-windows' profile (-CargoProfile), the packages with 'release'.
    # -Background: starts cargo (output to -LogPath) and returns its process, or why it cannot;
    # -WithTests also builds the Windows leg's Rust tests after the engine in that process (in
    # the foreground it only builds the engine so that their later build reuses its dependencies).
    # A later call without -Background finds the build done and publishes the library.
    param([Parameter(Mandatory)] $Engine, [ValidateSet('release', 'testing', 'testing-windows')] [string] $CargoProfile = 'release',
        [switch] $Background, [string] $LogPath, [switch] $WithTests)
    $setting = Get-CrossBuildSetting $Engine
    if ($setting.Why) { return $setting.Why }
    $cargoArguments = Get-CrossCargoArgument $Engine $setting -CargoProfile $CargoProfile -WithEmulator:$WithTests
    if ($Background) {
        # One shell runs the builds in turn (they share the target folder's lock anyway).
        $command = { param([string[]] $Arguments) 'cargo ' + (($Arguments | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' ') }
        # The marker says the engine is built, so the leg can start before the tests' build ends.
        $marker = "'" + ("$LogPath.engine-built" -replace "'", "'\''") + "'"
        $lines = @('set -e', "rm -f $marker", (& $command $cargoArguments), "touch $marker")
        if ($WithTests) { $lines += & $command (Get-CrossCargoArgument $Engine $setting -CargoProfile $CargoProfile -Tests) }
        $shellScript = "$LogPath.sh"
        [IO.File]::WriteAllText($shellScript, ($lines -join "`n") + "`n")
        return Use-CrossBuildVariable $setting {
            Start-Process -FilePath bash -ArgumentList "`"$shellScript`"" -PassThru `
                -RedirectStandardOutput "$LogPath.out" -RedirectStandardError $LogPath
        }
    }
    # cargo's own output goes to the host: this function's output is its answer.
    Use-CrossBuildVariable $setting { Invoke-Checked cargo $cargoArguments | Out-Host }
    Publish-CrossEngine $Engine $setting $CargoProfile
    return ''
}

function Publish-CrossEngine {
    # Copies a cross-built engine into out/ManagedIdentity/runtimes/<rid>/native.
    param([Parameter(Mandatory)] $Engine, [Parameter(Mandatory)] $Setting, [Parameter(Mandatory)] [string] $CargoProfile)
    $native = Join-Path $ModuleOut "runtimes/$($Engine.Rid)/native"
    New-Item -ItemType Directory -Force $native | Out-Null
    Publish-File (Join-Path $Setting.TargetDir "$($Engine.Target)/$CargoProfile/$($Engine.Library)") (Join-Path $native $Engine.Library) -Copy
}

function Build-CrossEngineSet {
    # Package: cross-builds every engine of $CrossEngines but the one the build made natively and
    # those -EnginePath supplies, best effort. Prints what it built and what it skipped and why; a
    # skipped engine's copy from an earlier run is removed, so the packages carry only this run's.
    param([string[]] $Supplied = @())
    $native = Get-RuntimeIdentifier
    $built = @(); $skipped = @()
    foreach ($engine in $CrossEngines) {
        if ($engine.Rid -eq $native -or $Supplied -contains $engine.Rid) { continue }
        # A toolchain that is present but cannot build (e.g. a rustc older than a locked
        # dependency needs) leaves the engine out with a warning, as a missing one does.
        $reason = try { Build-CrossEngine $engine } catch { "the cross build failed: $_" }
        if ($reason) {
            Write-Warning "The $($engine.Rid) engine was not built: $reason"
            Remove-Item (Join-Path $ModuleOut "runtimes/$($engine.Rid)") -Recurse -Force -ErrorAction SilentlyContinue
            $skipped += $engine.Rid
        }
        else { $built += $engine.Rid }
    }
    $builtText = if ($built.Count -gt 0) { $built -join ', ' } else { 'none' }
    Write-Host "Cross-built engines: $builtText" -ForegroundColor Green
    if ($skipped.Count -gt 0) { Write-Host "Skipped engines: $($skipped -join ', ') (why: the warnings above)" -ForegroundColor Yellow }
}

function Get-RuntimeIdentifier {
    $os = if ($IsWindows) { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
    $arch = switch ([Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture) { 'Arm64' { 'arm64' } default { 'x64' } }
    "$os-$arch"
}

function Invoke-Build {
    Build-Engine
    Build-InteropAssembly
    Build-ModuleFolder
    Build-Help
    Write-Host "Module staged at $ModuleOut" -ForegroundColor Green
}

function Import-Pester {
    $pester = Get-Module -ListAvailable Pester | Where-Object { $_.Version -ge [version]'5.5.0' } | Sort-Object Version -Descending | Select-Object -First 1
    if (-not $pester) {
        $local = Join-Path $Out 'tools/Pester'
        if (-not (Test-Path (Join-Path $local 'Pester.psd1'))) {
            $nupkg = Get-Package $Packages.Pester
            Expand-Archive -Path $nupkg -DestinationPath $local -Force
        }
        $pester = Join-Path $local 'Pester.psd1'
    }
    Import-Module $pester -Force
}

# ---------------------------------------------------------------------------------------------
# The Windows test leg (issues 23, 25): the module's Pester suite a second time, in a Windows pwsh
# against the win-x64 engine. On Linux that pwsh runs under Wine: MANAGEDIDENTITY_WINDOWS_PWSH
# names a launcher that takes pwsh's arguments (.ci/run sets it when the machine has one). The
# emulator cannot run inside it (Windows pwsh under Wine starts a Linux program but never sees
# its output), so `mi-emulator --pool` runs natively here and the tests ask it for emulators
# over loopback (tests/TestHelpers.psm1 Start-TestEmulator). On Windows the ordinary Pester leg
# is already this leg.
# ---------------------------------------------------------------------------------------------

function ConvertTo-WinePath {
    # Wine maps / to drive Z:.
    param([Parameter(Mandatory)] [string] $Path)
    'Z:' + ([IO.Path]::GetFullPath($Path) -replace '/', '\')
}

function Get-WindowsLegSetting {
    # What the leg needs on this machine, or why it cannot run: Launcher, WinePrefix, Why.
    $launcher = $env:MANAGEDIDENTITY_WINDOWS_PWSH
    if (-not $launcher) {
        return [pscustomobject]@{ Why = 'MANAGEDIDENTITY_WINDOWS_PWSH is not set. To run it, set it to a launcher of the Windows build of pwsh 7 (win-x64) under Wine that takes pwsh''s arguments, install Wine (Debian: apt-get install wine64) and the MinGW-w64 gcc and a Rust standard library for x86_64-pc-windows-gnu (see Build-CrossEngine)' }
    }
    if (-not [IO.Path]::IsPathRooted($launcher)) { $launcher = Join-Path $Root $launcher }
    if (-not (Test-Path $launcher -PathType Leaf)) { return [pscustomobject]@{ Why = "MANAGEDIDENTITY_WINDOWS_PWSH names '$launcher', which does not exist" } }
    $wine = @(Get-Command wine64, /usr/lib/wine/wine64 -CommandType Application -ErrorAction SilentlyContinue) | Select-Object -First 1
    if (-not $wine) { return [pscustomobject]@{ Why = 'Wine is not installed (Debian: apt-get install wine64)' } }
    $prefix = if ($env:WINEPREFIX) { $env:WINEPREFIX } else { Join-Path $Out 'windows/wineprefix' }
    [pscustomobject]@{ Why = ''; Launcher = (Resolve-Path $launcher).Path; WinePrefix = $prefix; Wine = $wine.Source }
}

function Start-EmulatorPool {
    # `mi-emulator --pool` on a free loopback port; its key files named as the Windows side sees
    # them (the prefix's drive_c is C:\, / is Z:\).
    param([Parameter(Mandatory)] [string] $WinePrefix, [Parameter(Mandatory)] [string] $Folder)
    $addressFile = Join-Path $Folder 'pool.addr'
    Remove-Item $addressFile -ErrorAction SilentlyContinue
    $driveC = Join-Path ([IO.Path]::GetFullPath($WinePrefix)) 'drive_c'
    $arguments = @('--pool', '--port', '0', '--address-file', $addressFile, '--max-lifetime-secs', '3600',
        '--client-path', "$driveC=C:\", '--client-path', '/=Z:\')
    $process = Start-Process -FilePath (Join-Path $EmulatorOut 'mi-emulator') -ArgumentList $arguments -PassThru `
        -RedirectStandardOutput (Join-Path $Folder 'pool.out') -RedirectStandardError (Join-Path $Folder 'pool.err')
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not (Test-Path $addressFile)) {
        if ($process.HasExited) { throw "The emulator pool exited: $(Get-Content -Raw (Join-Path $Folder 'pool.err'))" }
        if ([DateTime]::UtcNow -gt $deadline) { $process.Kill(); throw 'The emulator pool did not start within 30 s.' }
        Start-Sleep -Milliseconds 50
    }
    [pscustomobject]@{ Process = $process; Address = (Get-Content -Raw $addressFile).Trim() }
}

function Start-WindowsPwsh {
    # The launcher in its own process group (setsid), so a timeout ends Wine's processes with it;
    # stdout and stderr (merged by the launcher) go to $LogPath.
    param([string] $Launcher, [string[]] $ArgumentList, [string] $LogPath)
    $info = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($argument in @('bash', '-c', 'exec "$0" "$@" >"$MI_LEG_LOG" 2>&1 </dev/null', $Launcher, '-NoProfile', '-NonInteractive') + $ArgumentList) {
        $info.ArgumentList.Add($argument)
    }
    $info.Environment['MI_LEG_LOG'] = $LogPath
    $info.UseShellExecute = $false
    [Diagnostics.Process]::Start($info)
}

function Stop-ProcessGroup {
    param($Process)
    if ($Process.HasExited) { return }
    & kill -TERM -- "-$($Process.Id)" 2>$null
    if (-not $Process.WaitForExit(5000)) { & kill -KILL -- "-$($Process.Id)" 2>$null; $null = $Process.WaitForExit(5000) }
}

function Build-WindowsTestProgram {
    # The leg's Windows C test program (tests/windows/native/engine_abi.c, issue 23) and, beside
    # it, the test-only ProcessPrng stand-in Wine 8 lacks (bcryptprimitives_shim.c; never packaged):
    # out/windows/native. Returns the program's path; a compile error throws.
    $gcc = Get-Command x86_64-w64-mingw32-gcc -CommandType Application -ErrorAction Stop | Select-Object -First 1
    $source = Join-Path $Root 'tests/windows/native'
    $folder = Join-Path $Out 'windows/native'
    New-Item -ItemType Directory -Force $folder | Out-Null
    $program = Join-Path $folder 'engine_abi.exe'
    Invoke-Checked $gcc.Source @('-O2', '-Wall', '-Wextra', '-Werror', '-municode', '-o', $program, (Join-Path $source 'engine_abi.c')) | Out-Host
    Invoke-Checked $gcc.Source @('-O2', '-Wall', '-Werror', '-shared', '-o', (Join-Path $folder 'bcryptprimitives.dll'), (Join-Path $source 'bcryptprimitives_shim.c'), '-lbcrypt') | Out-Host
    $program
}

function Build-WindowsRustTest {
    # The leg's Rust tests for Windows (Get-CrossCargoArgument -Tests: core's unit tests and
    # rust/core/tests/it), built (nothing to do when Start-WindowsLegBuild's background build made
    # them) and copied to out/windows/rust beside the test-only ProcessPrng shim that Rust's
    # standard library needs under Wine 8 (Build-WindowsTestProgram builds it; the application's
    # folder is searched before Wine's own system32). Returns the copies; a failing build throws.
    $engine = $CrossEngines | Where-Object Rid -EQ 'win-x64'
    $setting = Get-CrossBuildSetting $engine
    if ($setting.Why) { throw $setting.Why }
    $arguments = @(Get-CrossCargoArgument $engine $setting -CargoProfile $WindowsLegProfile -Tests) + @('--message-format', 'json-render-diagnostics')
    Write-Host "> cargo $($arguments -join ' ')" -ForegroundColor DarkGray
    $messages = Use-CrossBuildVariable $setting { & cargo @arguments }
    if ($LASTEXITCODE -ne 0) { throw "building the Rust tests for $($engine.Target) failed (cargo exit $LASTEXITCODE)" }
    $built = @(foreach ($line in $messages) {
            if ($line -notlike '{*"executable":"*') { continue }
            $message = $line | ConvertFrom-Json
            if ($message.reason -eq 'compiler-artifact' -and $message.profile.test -and $message.executable) { $message.executable }
        })
    if ($built.Count -ne 3) { throw "expected 3 Rust test programs for $($engine.Target) (core's unit tests and tests/it, the FFI crate's unit tests), cargo named $($built.Count): $($built -join ', ')" }
    $folder = Join-Path $Out 'windows/rust'
    New-Item -ItemType Directory -Force $folder | Out-Null
    Copy-Item (Join-Path $Out 'windows/native/bcryptprimitives.dll') $folder -Force
    foreach ($program in $built) {
        # managed_identity_core-<hash>.exe is core's unit tests, it-<hash>.exe its integration
        # tests, managedidentity_engine-<hash>.exe the FFI crate's unit tests.
        $leaf = Split-Path $program -Leaf
        $name = if ($leaf -like 'it-*') { 'core-integration-tests.exe' }
        elseif ($leaf -like 'managedidentity_engine-*') { 'ffi-unit-tests.exe' }
        else { 'core-unit-tests.exe' }
        $copy = Join-Path $folder $name
        Copy-Item $program $copy -Force
        $copy
    }
}

function Start-WindowsRustTest {
    # One Rust test program under Wine in its own process group (bounded by the caller), from the
    # repository's root (tests open their sources through Wine's Z: drive), its output to
    # $LogPath. libtest's terse format: one summary line per program.
    param([Parameter(Mandatory)] [string] $Wine, [Parameter(Mandatory)] [string] $Program, [Parameter(Mandatory)] [string] $LogPath)
    $info = [Diagnostics.ProcessStartInfo]::new('setsid')
    foreach ($argument in @('bash', '-c', 'exec "$0" "$@" >"$MI_LEG_LOG" 2>&1 </dev/null', $Wine, $Program, '--format', 'terse')) {
        $info.ArgumentList.Add($argument)
    }
    $info.Environment['MI_LEG_LOG'] = $LogPath
    $info.Environment['WINEDEBUG'] = '-all'
    $info.WorkingDirectory = $Root
    $info.UseShellExecute = $false
    [Diagnostics.Process]::Start($info)
}

function Complete-WindowsRustTest {
    # Waits for a Start-WindowsRustTest run (bounded: 20 minutes from its start) and returns its
    # counts from libtest's summary line: Passed, Failed, Ignored. A program that ends without
    # that line (crash, timeout) counts as one failure, with the end of its output shown.
    param([Parameter(Mandatory)] $Run)
    $left = [Math]::Max(0, 1200000 - [int]$Run.Clock.Elapsed.TotalMilliseconds)
    $timedOut = -not $Run.Process.WaitForExit($left)
    $Run.Clock.Stop()
    if ($timedOut) { Stop-ProcessGroup $Run.Process }
    $counts = [pscustomobject]@{ Passed = 0; Failed = 0; Ignored = 0 }
    $lines = if (Test-Path $Run.Log) { @(Get-Content $Run.Log) } else { @() }
    # Exactly one summary line per program (test output is captured, so none comes from a test).
    $summary = @($lines | Where-Object { $_ -match '^test result: \w+\. \d+ passed; \d+ failed; \d+ ignored' })
    $name = Split-Path $Run.Program -Leaf
    if ($timedOut -or $summary.Count -ne 1) {
        $counts.Failed = 1
        $reason = if ($timedOut) { 'did not finish within 20 minutes' } else { "ended (exit $($Run.Process.ExitCode)) with $($summary.Count) summary lines" }
        Write-Host "[windows] rust $name $reason; its output:" -ForegroundColor Red
        $lines | Select-Object -Last 60 | ForEach-Object { Write-Host "  $_" }
        return $counts
    }
    $null = $summary[0] -match '(\d+) passed; (\d+) failed; (\d+) ignored'
    $counts.Passed = [int]$Matches[1]; $counts.Failed = [int]$Matches[2]; $counts.Ignored = [int]$Matches[3]
    if ($counts.Failed -eq 0 -and $Run.Process.ExitCode -ne 0) { $counts.Failed = 1 }
    $color = if ($counts.Failed -gt 0) { 'Red' } else { 'Green' }
    Write-Host ('[windows] rust {0}: {1} passed, {2} failed, {3} ignored ({4:N0} s)' -f $name, $counts.Passed, $counts.Failed, $counts.Ignored, $Run.Clock.Elapsed.TotalSeconds) -ForegroundColor $color
    if ($counts.Failed -gt 0) {
        # libtest's report: each failure's output, then the list of failed tests.
        $from = [Array]::IndexOf($lines, 'failures:')
        $report = if ($from -ge 0) { $lines[$from..($lines.Count - 1)] } else { $lines }
        $report | Select-Object -First 200 | ForEach-Object { Write-Host "  $_" }
        Write-Host "  (full output: $($Run.Log))"
    }
    $counts
}

function Start-WindowsLegBuild {
    # Starts the leg's cross-build of the win-x64 engine, then of its Rust tests (the core crate's,
    # Build-WindowsRustTest), in the background, so it overlaps the Linux leg (a fresh clone
    # compiles the standard library and every dependency for Windows once, for both).
    # Returns the build's process, or $null when the leg will not run (it says why later).
    if ($IsWindows -or (Get-WindowsLegSetting).Why) { return $null }
    $folder = Join-Path $Out 'windows'
    New-Item -ItemType Directory -Force $folder | Out-Null
    $started = try { Build-CrossEngine ($CrossEngines | Where-Object Rid -EQ 'win-x64') -CargoProfile $WindowsLegProfile -Background -WithTests -LogPath (Join-Path $folder 'cross-build.log') } catch { $null }
    if ($started -is [Diagnostics.Process]) {
        Write-Host "Windows leg: cross-building the win-x64 engine and the core crate's tests in the background (log: $(Join-Path $folder 'cross-build.log'))" -ForegroundColor DarkGray
        return $started
    }
    $null
}

function Invoke-WindowsTestLeg {
    # Returns the leg's counts: Passed, Failed, Ran ($false when skipped), Seconds. -Path: only
    # these test files (default: all). -Build: the cross-build Start-WindowsLegBuild started.
    param([string[]] $Path, $Build)
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $counts = [pscustomobject]@{ Passed = 0; Failed = 0; Ran = $false; Seconds = 0; RustPassed = 0; RustFailed = 0; RustIgnored = 0 }
    Write-Host "`n== Windows leg (Pester suite in a Windows pwsh and the core and FFI crates' Rust tests under Wine, win-x64 engine)" -ForegroundColor Cyan
    if ($IsWindows) {
        Write-Host 'This is Windows: the Pester leg above ran in this Windows pwsh, tests/windows included.'
        return $counts
    }
    $inCi = $env:CI -eq 'true'
    $setting = Get-WindowsLegSetting
    $why = $setting.Why
    $engine = $CrossEngines | Where-Object Rid -EQ 'win-x64'
    # Bounded: a cross-build that has not finished in 45 minutes is a failure.
    $buildDeadline = [DateTime]::UtcNow.AddMinutes(45)
    $engineBuilt = Join-Path $Out 'windows/cross-build.log.engine-built'
    if (-not $why -and $Build) {
        # The Pester files need only the engine: they start once it is built, while the
        # background build goes on with the Rust tests (started when it ends, below).
        while (-not (Test-Path $engineBuilt) -and -not $Build.HasExited -and [DateTime]::UtcNow -lt $buildDeadline) { Start-Sleep -Milliseconds 500 }
        if (Test-Path $engineBuilt) {
            $why = try { Publish-CrossEngine $engine (Get-CrossBuildSetting $engine) $WindowsLegProfile; '' } catch { "the cross-built engine could not be published: $_" }
        }
        elseif (-not $Build.HasExited) { $Build.Kill($true); $why = 'the background cross-build did not finish within 45 minutes' }
        else {
            Get-Content (Join-Path $Out 'windows/cross-build.log') -Tail 40 | ForEach-Object { Write-Host "  $_" }
            $why = "the background cross-build failed (exit $($Build.ExitCode); log: out/windows/cross-build.log)"
        }
    }
    elseif (-not $why) {
        $why = try { Build-CrossEngine $engine -CargoProfile $WindowsLegProfile -WithTests } catch { "the cross build failed: $_" }
    }
    if ($why) {
        if ($inCi) {
            Write-Host "The Windows leg cannot run in CI: $why." -ForegroundColor Red
            $counts.Failed = 1
        }
        else { Write-Host "The Windows leg is skipped: $why." -ForegroundColor Yellow }
        return $counts
    }
    $counts.Ran = $true
    $folder = Join-Path $Out 'windows'
    $logs = Join-Path $folder 'logs'
    if (Test-Path $logs) { Remove-Item $logs -Recurse -Force }
    New-Item -ItemType Directory -Force $logs | Out-Null
    $saved = @{}
    $pester = (Get-Module Pester).ModuleBase
    $variables = @{
        WINEPREFIX                          = $setting.WinePrefix
        # Pester's folder (the version folder's parent), as the Windows side names it.
        PSModulePath                        = ConvertTo-WinePath (Split-Path (Split-Path $pester -Parent) -Parent)
        MANAGEDIDENTITY_TEST_EMULATOR_POOL  = $null
        MANAGEDIDENTITY_TEST_ABI_PROGRAM    = $null
    }
    if ((Split-Path $pester -Leaf) -notmatch '^\d') { $variables.PSModulePath = ConvertTo-WinePath (Split-Path $pester -Parent) }
    $pool = $null
    $rustRuns = [Collections.Generic.List[object]]::new()
    try {
        foreach ($name in $variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); Set-ProcessVariable $name $variables[$name] }
        # The first start unpacks pwsh and makes the Wine prefix: once, before the parallel runs.
        $warm = Start-WindowsPwsh $setting.Launcher @('-Command', '[Environment]::OSVersion.VersionString') (Join-Path $logs 'warm-up.log')
        if (-not $warm.WaitForExit(300000)) { Stop-ProcessGroup $warm; throw 'The Windows pwsh did not start within 300 s.' }
        if ($warm.ExitCode -ne 0) { throw "The Windows pwsh failed to start (exit $($warm.ExitCode)): $(Get-Content -Raw (Join-Path $logs 'warm-up.log'))" }
        Write-Host "Windows pwsh: $((Get-Content (Join-Path $logs 'warm-up.log') | Where-Object { $_ }) -join ' ')"
        $env:MANAGEDIDENTITY_TEST_ABI_PROGRAM = ConvertTo-WinePath (Build-WindowsTestProgram)
        $pool = Start-EmulatorPool -WinePrefix $setting.WinePrefix -Folder $folder
        $env:MANAGEDIDENTITY_TEST_EMULATOR_POOL = $pool.Address

        # The core crate's Rust tests as Windows programs under Wine (issue 23), alongside the
        # Pester files, once the background build that makes them has ended; their emulators come
        # from the same pool (rust/core/tests/it/emulator.rs).
        $rustPending = @{ Due = -not $Path }
        $startRust = {
            $rustPending.Due = $false
            try {
                foreach ($program in @(Build-WindowsRustTest)) {
                    $log = Join-Path $logs "rust-$([IO.Path]::GetFileNameWithoutExtension($program)).log"
                    $rustRuns.Add([pscustomobject]@{ Program = $program; Log = $log; Clock = [Diagnostics.Stopwatch]::StartNew(); Process = (Start-WindowsRustTest $setting.Wine $program $log) })
                }
            }
            catch {
                Write-Host "[windows] the Rust tests could not be built or started: $_" -ForegroundColor Red
                $counts.Failed += 1; $counts.RustFailed += 1
            }
        }

        # One Windows pwsh per test file, a few at a time (each file starts its own emulators, so
        # files are independent); the longest files first.
        $files = if ($Path) { @(Get-Item $Path) } else { @(Get-ChildItem (Join-Path $Root 'tests') -Filter *.Tests.ps1) + @(Get-ChildItem (Join-Path $Root 'tests/windows') -Filter *.Tests.ps1) }
        $files = @($files | Sort-Object Length -Descending)
        $slots = [Math]::Max(3, [Environment]::ProcessorCount + 1)
        $queue = [Collections.Generic.Queue[object]]::new([object[]]$files)
        $running = [Collections.Generic.List[object]]::new()
        $runner = ConvertTo-WinePath (Join-Path $Root 'tests/windows/Invoke-LegPester.ps1')
        while ($queue.Count -gt 0 -or $running.Count -gt 0) {
            while ($queue.Count -gt 0 -and $running.Count -lt $slots) {
                $file = $queue.Dequeue()
                $log = Join-Path $logs "$($file.BaseName).log"
                $result = Join-Path $logs "$($file.BaseName).json"
                # Tests tagged NotUnderWine need what Wine lacks (each tag says why); Windows runs them.
                $process = Start-WindowsPwsh $setting.Launcher @('-File', $runner, '-Path', (ConvertTo-WinePath $file.FullName), '-ResultPath', (ConvertTo-WinePath $result), '-ExcludeTag', 'LinuxOnly,NotUnderWine') $log
                $running.Add([pscustomobject]@{ File = $file; Log = $log; Result = $result; Process = $process; Clock = [Diagnostics.Stopwatch]::StartNew() })
            }
            Start-Sleep -Milliseconds 200
            if ($rustPending.Due -and (-not $Build -or $Build.HasExited)) { . $startRust }
            # A Rust test program's clock stops when it ends (its counts are read after the loop).
            foreach ($run in $rustRuns) { if ($run.Clock.IsRunning -and $run.Process.HasExited) { $run.Clock.Stop() } }
            foreach ($run in @($running)) {
                $timedOut = -not $run.Process.HasExited -and $run.Clock.Elapsed.TotalMinutes -gt 15
                if ($timedOut) { Stop-ProcessGroup $run.Process }
                if (-not $run.Process.HasExited) { continue }
                $null = $running.Remove($run)
                $summary = if (Test-Path $run.Result) { Get-Content -Raw $run.Result | ConvertFrom-Json } else { $null }
                $name = $run.File.Name
                if (-not $summary) {
                    $counts.Failed += 1
                    $reason = if ($timedOut) { 'did not finish within 15 minutes' } else { "ended (exit $($run.Process.ExitCode)) without a result" }
                    Write-Host "[windows] $name $reason; its output:" -ForegroundColor Red
                    Get-Content $run.Log -Tail 60 | ForEach-Object { Write-Host "  $_" }
                    continue
                }
                $counts.Passed += $summary.passed; $counts.Failed += $summary.failed
                $color = if ($summary.failed -gt 0) { 'Red' } else { 'Green' }
                Write-Host ('[windows] {0}: {1} passed, {2} failed ({3:N0} s)' -f $name, $summary.passed, $summary.failed, $run.Clock.Elapsed.TotalSeconds) -ForegroundColor $color
                if ($summary.failed -gt 0) {
                    $summary.failures | ForEach-Object { Write-Host "  failed: $_" -ForegroundColor Red }
                    Write-Host "  (full output: $($run.Log))"
                    Get-Content $run.Log | Where-Object { $_ -match '^\s*\[-\]|Expected|Error|at .*\.ps1:\d+' } | Select-Object -First 80 | ForEach-Object { Write-Host "  $_" }
                }
            }
        }
        if ($rustPending.Due) {
            # The Pester files are done before the tests' build: wait for it (bounded), then run.
            while ($Build -and -not $Build.HasExited -and [DateTime]::UtcNow -lt $buildDeadline) { Start-Sleep -Milliseconds 500 }
            if ($Build -and -not $Build.HasExited) { $Build.Kill($true) }
            . $startRust
        }
        foreach ($run in $rustRuns) {
            $rust = Complete-WindowsRustTest $run
            $counts.RustPassed += $rust.Passed; $counts.RustFailed += $rust.Failed; $counts.RustIgnored += $rust.Ignored
            $counts.Passed += $rust.Passed; $counts.Failed += $rust.Failed
        }
    }
    catch {
        Write-Host "The Windows leg failed: $_" -ForegroundColor Red
        $counts.Failed += 1
    }
    finally {
        foreach ($run in @($running) + @($rustRuns)) { Stop-ProcessGroup $run.Process }
        if ($pool -and -not $pool.Process.HasExited) { $pool.Process.Kill(); $null = $pool.Process.WaitForExit(5000) }
        foreach ($name in $saved.Keys) { Set-ProcessVariable $name $saved[$name] }
    }
    $counts.Seconds = [int]$clock.Elapsed.TotalSeconds
    if ($rustRuns.Count -gt 0) {
        Write-Host ('Windows leg: Rust tests under Wine {0} passed, {1} failed ({2} ignored, each with its reason); Pester {3} passed, {4} failed' -f $counts.RustPassed, $counts.RustFailed, $counts.RustIgnored, ($counts.Passed - $counts.RustPassed), ($counts.Failed - $counts.RustFailed))
    }
    $counts
}

# The Test task's phases and their wall times (Complete-Phase after each), printed as one table
# before the closing counts, so a CI log shows what the Windows leg adds without a second run.
$script:PhaseTimes = [Collections.Generic.List[object]]::new()
$script:PhaseClock = [Diagnostics.Stopwatch]::new()
$script:PhaseMark = [TimeSpan]::Zero

function Complete-Phase {
    # Records the wall time since the previous mark (or the clock's start) as the phase $Name.
    param([Parameter(Mandatory)] [string] $Name, [string] $Note = '')
    $now = $script:PhaseClock.Elapsed
    $script:PhaseTimes.Add([pscustomobject]@{ Phase = $Name; Wall = $now - $script:PhaseMark; Note = $Note })
    $script:PhaseMark = $now
}

function Format-Duration([TimeSpan] $Span) { '{0}:{1:00}' -f [int][Math]::Floor($Span.TotalMinutes), $Span.Seconds }

function Write-PhaseTime {
    # The phase table. -WindowsBuild: the background cross-build (Start-WindowsLegBuild), timed
    # by its own start and exit and placed beside the phases it overlapped; -LegStart: when the
    # Windows leg began, to say how long it waited for that build. -BuildStart: when it was
    # started (on Linux a process's StartTime is gone once it has exited).
    param($WindowsBuild, [DateTime] $BuildStart, [DateTime] $LegStart)
    $rows = [Collections.Generic.List[object]]::new()
    foreach ($phase in $script:PhaseTimes) {
        $rows.Add([pscustomobject]@{ Phase = $phase.Phase; Wall = Format-Duration $phase.Wall; Note = $phase.Note })
        if ($phase.Phase -notlike '* Pester') { continue }
        $build = [pscustomobject]@{ Phase = 'Windows cross-build'; Wall = '-'; Note = 'not started (the Windows leg does not run here, or it builds in the leg)' }
        if ($WindowsBuild) {
            try {
                if ($WindowsBuild.HasExited) {
                    $waited = [Math]::Max(0, ($WindowsBuild.ExitTime - $LegStart).TotalSeconds)
                    $build.Wall = Format-Duration ($WindowsBuild.ExitTime - $BuildStart)
                    $build.Note = 'in the background from the end of the Linux build, overlapping the phases above; it ended {0:N0} s into the Windows leg (whose Pester files start once the engine is built)' -f $waited
                }
                else { $build.Note = 'still running when the Windows leg gave up on it' }
            }
            catch { $build.Note = "not timed: $($_.Exception.Message)" }
        }
        $rows.Add($build)
    }
    $rows.Add([pscustomobject]@{ Phase = 'Total'; Wall = Format-Duration $script:PhaseClock.Elapsed; Note = '' })
    Write-Host "`nWall time by phase"
    Write-Host (($rows | Format-Table -AutoSize | Out-String -Width 200).TrimEnd())
}

function Invoke-Test {
    $script:PhaseClock.Restart()
    $os = if ($IsWindows) { 'Windows' } elseif ($IsMacOS) { 'macOS' } else { 'Linux' }
    Invoke-Build
    Complete-Phase "$os build"
    $buildStart = [DateTime]::Now
    $windowsBuild = Start-WindowsLegBuild
    $passed = 0; $failed = 0

    Write-Host "`n== Rust tests (cargo test --profile $CargoProfile --workspace)" -ForegroundColor Cyan
    $cargoLog = Join-Path $Out 'cargo-test.log'
    & cargo test --profile $CargoProfile --workspace --no-fail-fast 2>&1 | Tee-Object -FilePath $cargoLog | ForEach-Object { Write-Host $_ }
    $cargoExit = $LASTEXITCODE
    foreach ($line in Get-Content $cargoLog) {
        if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed') {
            $passed += [int]$Matches[1]; $failed += [int]$Matches[2]
        }
    }
    if ($cargoExit -ne 0 -and $failed -eq 0) { $failed += 1; Write-Host 'cargo test failed before reporting results' -ForegroundColor Red }
    Complete-Phase 'Rust tests'

    Write-Host "`n== Pester tests (tests/*.Tests.ps1)" -ForegroundColor Cyan
    Import-Pester
    # The suites run as Invoke-Pester runs them for a user, not under this script's strict mode.
    Set-StrictMode -Off
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $Root 'tests'
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Normal'
    # Windows-only tests (tests/windows) run where the pwsh is Windows: here when this is Windows,
    # else in the Windows leg; Linux-only ones never there.
    $config.Filter.ExcludeTag = if ($IsWindows) { @('LinuxOnly') } else { @('WindowsOnly') }
    if ($IsWindows -and -not $env:MANAGEDIDENTITY_TEST_ABI_PROGRAM) {
        # tests/windows/EngineAbi.Tests.ps1 drives the engine from a C program the Linux leg builds with MinGW-w64.
        $config.Filter.ExcludeTag += 'AbiProgram'
        Write-Host 'tests tagged AbiProgram are left out: set MANAGEDIDENTITY_TEST_ABI_PROGRAM to engine_abi.exe built from tests/windows/native/engine_abi.c' -ForegroundColor Yellow
    }
    $result = Invoke-Pester -Configuration $config
    $passed += $result.PassedCount
    $failed += $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    $legName = if ($IsWindows) { 'Windows' } elseif ($IsMacOS) { 'macOS' } else { 'Linux' }
    $legs = @("$legName leg (cargo test and Pester): $passed passed, $failed failed")
    Complete-Phase "$os Pester"

    $legStart = [DateTime]::Now
    $windows = Invoke-WindowsTestLeg -Build $windowsBuild
    Complete-Phase 'Windows leg' $(if ($windows.Ran) { 'the time the Windows leg adds to the run' } else { 'did not run (see above)' })
    if ($windows.Ran) { $legs += "Windows leg (Pester in Windows pwsh under Wine, $($windows.Seconds) s): $($windows.Passed) passed, $($windows.Failed) failed" }
    elseif ($windows.Failed -gt 0) { $legs += "Windows leg: could not run ($($windows.Failed) failed)" }
    $passed += $windows.Passed; $failed += $windows.Failed

    Write-PhaseTime -WindowsBuild $windowsBuild -BuildStart $buildStart -LegStart $legStart
    Write-Host ''
    $legs | ForEach-Object { Write-Host $_ }
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-WindowsBench {
    # The bench's "Windows pwsh" section (issue 25): tests/Bench.Windows.ps1 in a Windows pwsh
    # against the win-x64 engine, appended to out/bench/results.md and results.json. On Linux that
    # pwsh is the one the Windows test leg uses (MANAGEDIDENTITY_WINDOWS_PWSH, under Wine), and
    # the emulator runs natively here as `mi-emulator --pool`, its address handed in (see
    # Invoke-WindowsTestLeg). Returns $false when the section could not be measured and must be
    # (in CI, or when it was attempted and failed).
    param([Parameter(Mandatory)] [string] $OutputDirectory)
    Write-Host "`n== Bench: Windows pwsh (win-x64 engine)" -ForegroundColor Cyan
    $bench = Join-Path $Root 'tests/Bench.Windows.ps1'
    if ($IsWindows) {
        # Here the native engine is the win-x64 one: this pwsh measures itself.
        & (Get-Process -Id $PID).Path -NoProfile -NonInteractive -File $bench -ModulePath $ModuleOut -OutputDirectory $OutputDirectory | Out-Host
        return $LASTEXITCODE -eq 0
    }
    $setting = Get-WindowsLegSetting
    $why = $setting.Why
    if (-not $why) {
        $why = try { Build-CrossEngine ($CrossEngines | Where-Object Rid -EQ 'win-x64') -CargoProfile $CargoProfile } catch { "the cross build failed: $_" }
    }
    if ($why) {
        $inCi = $env:CI -eq 'true'
        $message = "The Windows pwsh figures are $(if ($inCi) { 'missing in CI' } else { 'skipped' }): $why."
        Write-Host $message -ForegroundColor $(if ($inCi) { 'Red' } else { 'Yellow' })
        Add-BenchSection -OutputDirectory $OutputDirectory -Property 'WindowsPwsh' -Markdown @('## Windows pwsh', '', $message) -Value ([pscustomobject]@{ NotMeasured = $message })
        return -not $inCi
    }
    $folder = Join-Path $Out 'bench/windows'
    # Wine makes the prefix on the first start, but not its parent folder.
    New-Item -ItemType Directory -Force $folder, (Split-Path ([IO.Path]::GetFullPath($setting.WinePrefix))) | Out-Null
    $log = Join-Path $folder 'bench.log'
    $variables = @{
        WINEPREFIX                           = $setting.WinePrefix
        # The Windows pwsh's own module path, not this one's (Linux paths, ':'-separated).
        PSModulePath                         = $null
        MANAGEDIDENTITY_TEST_EMULATOR_POOL   = $null
        MANAGEDIDENTITY_BENCH_AZURE_IDENTITY = $(if ($env:MANAGEDIDENTITY_BENCH_AZURE_IDENTITY) { ConvertTo-WinePath $env:MANAGEDIDENTITY_BENCH_AZURE_IDENTITY } else { $null })
    }
    $saved = @{}
    $pool = $null; $process = $null
    try {
        foreach ($name in $variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); Set-ProcessVariable $name $variables[$name] }
        # The first start may unpack pwsh and make the Wine prefix: once, bounded.
        $warm = Start-WindowsPwsh $setting.Launcher @('-Command', '[Environment]::OSVersion.VersionString') (Join-Path $folder 'warm-up.log')
        if (-not $warm.WaitForExit(300000)) { Stop-ProcessGroup $warm; throw 'the Windows pwsh did not start within 300 s' }
        if ($warm.ExitCode -ne 0) { throw "the Windows pwsh failed to start (exit $($warm.ExitCode)): $(Get-Content -Raw (Join-Path $folder 'warm-up.log'))" }
        $pool = Start-EmulatorPool -WinePrefix $setting.WinePrefix -Folder $folder
        $env:MANAGEDIDENTITY_TEST_EMULATOR_POOL = $pool.Address
        $process = Start-WindowsPwsh $setting.Launcher @('-File', (ConvertTo-WinePath $bench), '-ModulePath', (ConvertTo-WinePath $ModuleOut), '-OutputDirectory', (ConvertTo-WinePath $OutputDirectory)) $log
        # Its output (merged by the launcher) as it comes; bounded: 30 minutes.
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $shown = 0L
        while ($true) {
            $exited = $process.HasExited
            if (Test-Path $log) {
                $stream = [IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
                try {
                    if ($stream.Length -gt $shown) {
                        $null = $stream.Seek($shown, 'Begin')
                        $reader = [IO.StreamReader]::new($stream)
                        $text = $reader.ReadToEnd()
                        $cut = if ($exited) { $text.Length } else { $text.LastIndexOf("`n") + 1 }
                        if ($cut -gt 0) {
                            $text.Substring(0, $cut).TrimEnd() -split "`r?`n" | ForEach-Object { Write-Host "  $_" }
                            $shown += [Text.Encoding]::UTF8.GetByteCount($text.Substring(0, $cut))
                        }
                    }
                }
                finally { $stream.Dispose() }
            }
            if ($exited) { break }
            if ($clock.Elapsed.TotalMinutes -gt 30) { Stop-ProcessGroup $process; throw 'the Windows pwsh bench did not finish within 30 minutes' }
            Start-Sleep -Milliseconds 500
        }
        if ($process.ExitCode -ne 0) { throw "the Windows pwsh bench failed (exit $($process.ExitCode); log: $log)" }
        $true
    }
    catch {
        Write-Host "The Windows pwsh figures are missing: $_" -ForegroundColor Red
        Add-BenchSection -OutputDirectory $OutputDirectory -Property 'WindowsPwsh' -Markdown @('## Windows pwsh', '', "Not measured: $_") -Value ([pscustomobject]@{ NotMeasured = "$_" })
        $false
    }
    finally {
        if ($process) { Stop-ProcessGroup $process }
        if ($pool -and -not $pool.Process.HasExited) { $pool.Process.Kill(); $null = $pool.Process.WaitForExit(5000) }
        foreach ($name in $saved.Keys) { Set-ProcessVariable $name $saved[$name] }
    }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Bench' {
        Invoke-Build
        $benchOut = Join-Path $Out 'bench'
        & (Join-Path $Root 'tests/Bench.ps1') -ModulePath $ModuleOut -EmulatorPath (Join-Path $EmulatorOut 'mi-emulator') -OutputDirectory $benchOut
        # The same cold-start and bulk figures in a Windows pwsh (tests/Bench.Windows.ps1).
        Import-Module (Join-Path $Root 'tests/BenchHelpers.psm1') -Force
        if (-not (Invoke-WindowsBench -OutputDirectory $benchOut)) { exit 1 }
    }
    'Assemble' {
        Invoke-Build
        if (-not $EnginePath) { throw 'Assemble needs -EnginePath: a folder holding runtimes/<rid>/native/<library>.' }
        Add-ModuleEngine -ModuleFolder $ModuleOut -EnginePath $EnginePath
    }
    'Package' {
        Invoke-Build
        # Engines built elsewhere (-EnginePath) are taken as they are; the others are cross-built here.
        $supplied = if ($EnginePath) { @(Find-EngineFile $EnginePath | ForEach-Object Rid) } else { @() }
        Build-CrossEngineSet -Supplied $supplied
        if ($EnginePath) { Add-ModuleEngine -ModuleFolder $ModuleOut -EnginePath $EnginePath }
        $null = Invoke-Package -Root $Root -ModuleFolder $ModuleOut -Out $Out
    }
}
