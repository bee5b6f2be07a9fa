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
            out/bench/results.md).
    Package Build, add the engines this machine can cross-build (win-x64 and linux-arm64 on
            Linux x64 when their gcc cross compilers and Rust targets are installed; see
            $CrossEngines) and any engines under -EnginePath, then write
            out/ManagedIdentity-<version>.nupkg (Gallery) and out/ManagedIdentity.zip (Azure
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
    Invoke-Checked cargo @('build', '--profile', $CargoProfile, '-p', 'managed-identity-ffi', '-p', 'managed-identity-emulator')
    $bindings = Join-Path $ModuleSource 'interop/NativeMethods.g.cs'
    Invoke-Checked cargo @('run', '--profile', $CargoProfile, '-q', '-p', 'managed-identity-ffi', '--example', 'generate_bindings', '--', $bindings)
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

function Build-CrossEngine {
    # Cross-builds one engine of $CrossEngines into out/ManagedIdentity/runtimes/<rid>/native.
    # Needs the C cross compiler and either the rustup target (`rustup target add <target>`) or a
    # rustc whose sysroot has the standard-library sources for `-Z build-std`, e.g. Debian's
    # `rustc-web rust-web-src` (/usr/bin/rustc, or set MANAGEDIDENTITY_CROSS_RUSTC to such a rustc).
    # Returns why it could not build ('' when it did); a failing cargo build throws.
    param([Parameter(Mandatory)] $Engine)
    $target = $Engine.Target
    $gcc = Get-Command $Engine.Gcc -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $gcc) { return "no $($Engine.Gcc) (Debian: apt-get install $($Engine.Debian))" }
    $rustup = Get-Command rustup -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $hasTarget = $rustup -and (@(& $rustup.Source target list --installed 2>$null) -contains $target)
    $key = $target.Replace('-', '_')
    $variables = @{
        "CARGO_TARGET_$($key.ToUpperInvariant())_LINKER" = $gcc.Source
        "CC_$key"                                        = $gcc.Source
        "AR_$key"                                        = $gcc.Source -replace 'gcc$', 'ar'
    }
    $cargoArguments = @('build', '--release', '-p', 'managed-identity-ffi', '--lib', '--target', $target)
    if (-not $hasTarget) {
        $rustc = if ($env:MANAGEDIDENTITY_CROSS_RUSTC) { $env:MANAGEDIDENTITY_CROSS_RUSTC } else { '/usr/bin/rustc' }
        $sysroot = if (Test-Path $rustc) { (& $rustc --print sysroot).Trim() } else { $null }
        if (-not $sysroot -or -not (Test-Path (Join-Path $sysroot 'lib/rustlib/src/rust/library'))) {
            return "no Rust standard library for $target (rustup target add $target, or a rustc with standard-library sources in MANAGEDIDENTITY_CROSS_RUSTC)"
        }
        $variables.RUSTC = $rustc; $variables.RUSTC_BOOTSTRAP = '1'
        $cargoArguments += @('-Z', 'build-std=std,panic_unwind')
    }
    $saved = @{}
    foreach ($name in $variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $variables[$name]) }
    $targetDir = Join-Path $CargoTarget $Engine.Rid
    # cargo's own output goes to the host: this function's output is its answer.
    try { Invoke-Checked cargo ($cargoArguments + @('--target-dir', $targetDir)) | Out-Host }
    finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
    }
    $native = Join-Path $ModuleOut "runtimes/$($Engine.Rid)/native"
    New-Item -ItemType Directory -Force $native | Out-Null
    Publish-File (Join-Path $targetDir "$target/release/$($Engine.Library)") (Join-Path $native $Engine.Library) -Copy
    return ''
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

function Invoke-Test {
    Invoke-Build
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

    Write-Host "`n== Pester tests (tests/*.Tests.ps1)" -ForegroundColor Cyan
    Import-Pester
    # The suites run as Invoke-Pester runs them for a user, not under this script's strict mode.
    Set-StrictMode -Off
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $Root 'tests'
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Normal'
    $result = Invoke-Pester -Configuration $config
    $passed += $result.PassedCount
    $failed += $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount

    Write-Host ''
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0) { exit 1 }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Bench' {
        Invoke-Build
        & (Join-Path $Root 'tests/Bench.ps1') -ModulePath $ModuleOut -EmulatorPath (Join-Path $EmulatorOut 'mi-emulator') -OutputDirectory (Join-Path $Out 'bench')
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
