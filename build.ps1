#Requires -Version 7.2
<#
.SYNOPSIS
    Builds, tests, benchmarks and packages the ManagedIdentity module.
.DESCRIPTION
    Build   (default) cargo build --release, regenerate the C# bindings, compile the interop
            assembly (netstandard2.0, with the Roslyn compiler that ships inside pwsh) and stage an
            importable module at out/ManagedIdentity.
    Test    Build, then run every Rust test (cargo test) and every Pester suite under tests/,
            and print one closing line "N passed, N failed" counting both.
    Bench   Build, then run tests/Bench.ps1 (figures printed as a table and written to
            out/bench/results.md).
    Package Build, add the win-x64 engine (cross-built on Linux when a MinGW toolchain and a
            rustc with standard-library sources are installed; see Build-WindowsEngine) and any
            engines under -EnginePath, then write out/ManagedIdentity-<version>.nupkg (Gallery)
            and out/ManagedIdentity.zip (Azure Automation import); see powershell/build/Package.ps1.
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
    [string] $EnginePath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleSource = Join-Path $Root 'powershell/ManagedIdentity'
$ModuleOut = Join-Path $Out 'ManagedIdentity'
$CargoTarget = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $Root 'target' }
$Release = Join-Path $CargoTarget 'release'
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
    Invoke-Checked cargo @('build', '--release', '-p', 'managed-identity-ffi', '-p', 'managed-identity-emulator')
    $bindings = Join-Path $ModuleSource 'interop/NativeMethods.g.cs'
    Invoke-Checked cargo @('run', '--release', '-q', '-p', 'managed-identity-ffi', '--example', 'generate_bindings', '--', $bindings)
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
    foreach ($file in Get-ChildItem (Join-Path $ModuleSource 'interop') -Filter *.cs | Sort-Object Name) {
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
    $stream = [IO.File]::Create($staging)
    try { $result = $compilation.Emit($stream) } finally { $stream.Dispose() }
    $problems = @($result.Diagnostics | Where-Object { $_.Severity -ge [Microsoft.CodeAnalysis.DiagnosticSeverity]::Warning })
    if (-not $result.Success -or $problems.Count -gt 0) {
        $problems | ForEach-Object { Write-Host $_.ToString() -ForegroundColor Red }
        throw 'The interop assembly did not compile cleanly.'
    }
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
    # Stages out/ManagedIdentity: manifest, .psm1, one ManagedIdentity.ps1 with every Private and
    # Public script inlined (one file to parse keeps the import fast), formats, native engine.
    foreach ($file in 'ManagedIdentity.psd1', 'ManagedIdentity.psm1', 'ManagedIdentity.Format.ps1xml') {
        Copy-Item (Join-Path $ModuleSource $file) $ModuleOut -Force
    }
    $entry = Get-Content -Raw (Join-Path $ModuleSource 'ManagedIdentity.ps1')
    $parts = foreach ($folder in 'Private', 'Public') {
        foreach ($file in Get-ChildItem (Join-Path $ModuleSource $folder) -Filter *.ps1 | Sort-Object Name) {
            "# ---- $folder/$($file.Name)"
            (Get-Content -Raw $file.FullName).TrimEnd()
        }
    }
    $pattern = '(?s)#region parts.*?#endregion parts'
    if ($entry -notmatch $pattern) { throw 'ManagedIdentity.ps1 lacks its #region parts block.' }
    $inlined = [regex]::Replace($entry, $pattern, { param($m) "#region parts (inlined by build.ps1)`n$($parts -join "`n")`n#endregion parts" })
    Set-Content -Path (Join-Path $ModuleOut 'ManagedIdentity.ps1') -Value $inlined -Encoding utf8BOM -NoNewline

    $rid = Get-RuntimeIdentifier
    $native = Join-Path $ModuleOut "runtimes/$rid/native"
    New-Item -ItemType Directory -Force $native | Out-Null
    $library = if ($IsWindows) { 'managedidentity_engine.dll' } elseif ($IsMacOS) { 'libmanagedidentity_engine.dylib' } else { 'libmanagedidentity_engine.so' }
    Publish-File (Join-Path $Release $library) (Join-Path $native $library) -Copy
}

function Build-WindowsEngine {
    # Azure Automation cloud sandboxes are Windows. On Windows the normal build already made the
    # win-x64 engine; on Linux it is cross-built with MinGW and `-Z build-std` (rustls uses the
    # ring provider, so no Windows SDK, cmake or nasm is needed). Needs x86_64-w64-mingw32-gcc
    # and a rustc whose sysroot has the standard-library sources, e.g. Debian's
    # `apt-get install gcc-mingw-w64-x86-64 rustc-web rust-web-src` (rustc at /usr/bin/rustc),
    # or set MANAGEDIDENTITY_WINDOWS_RUSTC to such a rustc.
    if ($IsWindows) { return $true }
    $rustc = if ($env:MANAGEDIDENTITY_WINDOWS_RUSTC) { $env:MANAGEDIDENTITY_WINDOWS_RUSTC } else { '/usr/bin/rustc' }
    $linker = Get-Command x86_64-w64-mingw32-gcc -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $sysroot = if (Test-Path $rustc) { (& $rustc --print sysroot).Trim() } else { $null }
    if (-not $linker -or -not $sysroot -or -not (Test-Path (Join-Path $sysroot 'lib/rustlib/src/rust/library'))) {
        Write-Warning 'The win-x64 engine was not built: install a MinGW-w64 gcc and a rustc with standard-library sources (see Build-WindowsEngine in build.ps1).'
        return $false
    }
    $variables = @{
        RUSTC = $rustc; RUSTC_BOOTSTRAP = '1'
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER = $linker.Source
        CC_x86_64_pc_windows_gnu = $linker.Source
        AR_x86_64_pc_windows_gnu = 'x86_64-w64-mingw32-ar'
    }
    $saved = @{}
    foreach ($name in $variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $variables[$name]) }
    try {
        $targetDir = Join-Path $CargoTarget 'win-x64'
        Invoke-Checked cargo @('build', '--release', '-p', 'managed-identity-ffi', '--lib', '--target', 'x86_64-pc-windows-gnu',
            '-Z', 'build-std=std,panic_unwind', '--target-dir', $targetDir)
    }
    finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
    }
    $native = Join-Path $ModuleOut 'runtimes/win-x64/native'
    New-Item -ItemType Directory -Force $native | Out-Null
    Publish-File (Join-Path $targetDir 'x86_64-pc-windows-gnu/release/managedidentity_engine.dll') (Join-Path $native 'managedidentity_engine.dll') -Copy
    return $true
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

    Write-Host "`n== Rust tests (cargo test --release --workspace)" -ForegroundColor Cyan
    $cargoLog = Join-Path $Out 'cargo-test.log'
    & cargo test --release --workspace --no-fail-fast 2>&1 | Tee-Object -FilePath $cargoLog | ForEach-Object { Write-Host $_ }
    $cargoExit = $LASTEXITCODE
    foreach ($line in Get-Content $cargoLog) {
        if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed') {
            $passed += [int]$Matches[1]; $failed += [int]$Matches[2]
        }
    }
    if ($cargoExit -ne 0 -and $failed -eq 0) { $failed += 1; Write-Host 'cargo test failed before reporting results' -ForegroundColor Red }

    Write-Host "`n== Pester tests (tests/*.Tests.ps1)" -ForegroundColor Cyan
    Import-Pester
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
        & (Join-Path $Root 'tests/Bench.ps1') -ModulePath $ModuleOut -EmulatorPath (Join-Path $Release 'mi-emulator') -OutputDirectory (Join-Path $Out 'bench')
    }
    'Assemble' {
        Invoke-Build
        if (-not $EnginePath) { throw 'Assemble needs -EnginePath: a folder holding runtimes/<rid>/native/<library>.' }
        Add-ModuleEngine -ModuleFolder $ModuleOut -EnginePath $EnginePath
    }
    'Package' {
        Invoke-Build
        # A cross toolchain that is present but cannot build (e.g. a rustc older than a locked
        # dependency needs) leaves win-x64 out with a warning, as a missing one does.
        try { $null = Build-WindowsEngine } catch { Write-Warning "The win-x64 engine was not built: $_" }
        if ($EnginePath) { Add-ModuleEngine -ModuleFolder $ModuleOut -EnginePath $EnginePath }
        $null = Invoke-Package -Root $Root -ModuleFolder $ModuleOut -Out $Out
    }
}
