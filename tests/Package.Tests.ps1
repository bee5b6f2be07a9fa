# The Gallery package and the Azure Automation zip (issue 13 items 2-3): layout, engines, Azure
# Automation's limits, nuspec and manifest metadata, installing through PSResourceGet from a local
# folder repository, importing and using the module from each unpacked copy in a fresh process,
# the win-x64 engine's PE export/import tables and the Linux engines' ELF headers (machine, dynamic
# exports, needed libraries). The packages are built once per run, from the built module folder
# (out/ManagedIdentity, which carries win-x64 and linux-arm64 once `build.ps1 -Task Package` has
# cross-built them), into a temporary folder.

BeforeDiscovery {
    $repoRoot = Split-Path $PSScriptRoot -Parent
    $moduleFolder = Join-Path $repoRoot 'out/ManagedIdentity'
    $script:CanPackage = [bool](Get-Command Compress-PSResource -ErrorAction SilentlyContinue)
    $script:Rids = @(Get-ChildItem (Join-Path $moduleFolder 'runtimes') -Directory -ErrorAction SilentlyContinue | ForEach-Object { @{ Rid = $_.Name } })
    $script:Copies = @(@{ Copy = 'Automation zip' }, @{ Copy = 'nupkg, unpacked' }, @{ Copy = 'Install-PSResource' })
    $script:LinuxEngines = @(
        @{ Rid = 'linux-x64'; Machine = 'X86_64'; Made = 'by the build on Linux x64 (CI: ubuntu-latest)' }
        @{ Rid = 'linux-arm64'; Machine = 'AArch64'; Made = 'by the build on Linux arm64 (CI: ubuntu-24.04-arm), or cross-built by `build.ps1 -Task Package` on Linux x64 when gcc-aarch64-linux-gnu and the rustup target aarch64-unknown-linux-gnu are installed' }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PeImage.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ElfImage.psm1') -Force
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    $script:ModuleFolder = Get-TestModulePath
    # Every native entry point the interop assembly calls (its generated DllImports).
    $bindings = Get-ChildItem (Join-Path $RepoRoot 'powershell/ManagedIdentity') -Recurse -Filter NativeMethods.g.cs | Select-Object -First 1
    $script:EntryPoints = @([regex]::Matches((Get-Content -Raw $bindings.FullName), 'DllImport\(\s*NativeLib[^)]*EntryPoint\s*=\s*"([^"]+)"') | ForEach-Object { $_.Groups[1].Value })
    $script:WinEngine = Join-Path $ModuleFolder 'runtimes/win-x64/native/managedidentity_engine.dll'
    $script:NoWinEngine = 'the win-x64 engine is absent: it is cross-built by `build.ps1 -Task Package` when a MinGW-w64 gcc and a rustc with standard-library sources are installed (or built natively on Windows)'
    $script:NoPackaging = 'packaging needs Compress-PSResource (PSResourceGet 1.1+, PowerShell 7.4+)'
    if (-not (Get-Command Compress-PSResource -ErrorAction SilentlyContinue)) { return }

    . (Join-Path $RepoRoot 'powershell/build/Package.ps1')
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "mi-package-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory $Work
    $script:Version = Get-WorkspaceVersion $RepoRoot
    $script:Built = Invoke-Package -Root $RepoRoot -ModuleFolder $ModuleFolder -Out $Work 6>$null
    $script:NupkgEntries = @(Get-ZipEntryPath $Built.Nupkg)
    $script:ZipEntries = @(Get-ZipEntryPath $Built.Zip)

    Add-Type -AssemblyName System.IO.Compression.FileSystem
    $script:Unpacked = @{
        'Automation zip'  = Join-Path $Work 'from-zip/ManagedIdentity'
        'nupkg, unpacked' = Join-Path $Work 'from-nupkg/ManagedIdentity'
        'Install-PSResource' = $null
    }
    [IO.Compression.ZipFile]::ExtractToDirectory($Built.Zip, (Join-Path $Work 'from-zip'))
    [IO.Compression.ZipFile]::ExtractToDirectory($Built.Nupkg, $Unpacked['nupkg, unpacked'])

    $zipArchive = [IO.Compression.ZipFile]::OpenRead($Built.Nupkg)
    try {
        $entry = $zipArchive.Entries | Where-Object FullName -EQ 'ManagedIdentity.nuspec'
        $reader = [IO.StreamReader]::new($entry.Open())
        try { [xml]$script:Nuspec = $reader.ReadToEnd() } finally { $reader.Dispose() }
    }
    finally { $zipArchive.Dispose() }
    $script:Metadata = $Nuspec.package.metadata
    $script:Manifest = Import-PowerShellDataFile (Join-Path $Unpacked['nupkg, unpacked'] 'ManagedIdentity.psd1')

    # The README's install steps, literally, with the package as built: register the folder that
    # holds the .nupkg as a repository named 'local', then Install-PSResource from it. The child
    # keeps PSResourceGet's configuration and the installed module away from the user's: on
    # Linux/macOS in its own data folder (XDG_DATA_HOME); on Windows (which has no such variable)
    # it fails rather than touch a 'local' repository the user has, and AfterAll uninstalls.
    $packageFolder = Split-Path $Built.Nupkg -Parent
    $xdg = $env:XDG_DATA_HOME
    # .NET resolves LocalApplicationData to '' (the current folder) when the folder is missing.
    if (-not (Test-OnWindows)) { $env:XDG_DATA_HOME = (New-Item -ItemType Directory (Join-Path $Work 'xdg-data')).FullName }
    try {
        $script:InstallOutput = Invoke-FreshPwsh @"
`$ErrorActionPreference = 'Stop'
if (Get-PSResourceRepository -Name local -ErrorAction SilentlyContinue) { throw 'A repository named local exists already.' }
Register-PSResourceRepository -Name local -Uri '$packageFolder' -Trusted
try {
    Install-PSResource ManagedIdentity -Repository local
    'INSTALLED=' + (Get-InstalledPSResource ManagedIdentity).InstalledLocation
}
finally { Unregister-PSResourceRepository -Name local }
"@
        $script:InstallExitCode = Get-FreshPwshExitCode
    }
    finally { $env:XDG_DATA_HOME = $xdg }
    # Install-PSResource writes <modules folder>/ManagedIdentity/<version>/: import the
    # module-name folder, as PowerShell does from a PSModulePath entry.
    $installed = $InstallOutput | Where-Object { $_ -like 'INSTALLED=*' } | Select-Object -First 1
    if ($installed) {
        $location = $installed.Substring('INSTALLED='.Length)
        # InstalledLocation is the version folder, or the module-name folder's parent.
        if (Test-Path (Join-Path $location 'ManagedIdentity')) { $location = Join-Path $location 'ManagedIdentity' }
        elseif ((Split-Path $location -Leaf) -ne 'ManagedIdentity') { $location = Split-Path $location -Parent }
        $Unpacked['Install-PSResource'] = $location
    }

    $script:Emulator = Start-TestEmulator
    Set-IdentityEnvironment $Emulator 'Automation'
}

AfterAll {
    if (Get-Variable Emulator -Scope Script -ErrorAction SilentlyContinue) { Stop-TestEmulator $Emulator }
    if ((Test-OnWindows) -and (Get-Variable InstallExitCode -Scope Script -ErrorAction SilentlyContinue)) {
        $null = Invoke-FreshPwsh 'Uninstall-PSResource ManagedIdentity -ErrorAction SilentlyContinue'
    }
    Clear-IdentityEnvironment
    if (Get-Variable Work -Scope Script -ErrorAction SilentlyContinue) { Remove-TestFolder $Work }
}

Describe 'Gallery package' -Skip:(-not $CanPackage) {
    It 'has the module files at the package root, next to the nuspec' {
        $NupkgEntries | Should -Contain 'ManagedIdentity.nuspec'
        $NupkgEntries | Should -Contain 'ManagedIdentity.psd1'
        $NupkgEntries | Should -Contain ($Manifest.RootModule -replace '^\.[\\/]', '')
        $NupkgEntries | Should -Contain 'bin/ManagedIdentity.Interop.dll'
        $NupkgEntries | Where-Object { $_ -like 'ManagedIdentity/*' } | Should -BeNullOrEmpty
    }

    It 'carries the <Rid> engine' -ForEach $Rids {
        $NupkgEntries | Where-Object { $_ -like "runtimes/$Rid/native/*" } | Should -Not -BeNullOrEmpty
    }

    It 'carries the help, the about_ topic and every format view' {
        foreach ($entry in 'en-US/ManagedIdentity.Interop.dll-Help.xml', 'en-US/about_ManagedIdentity.help.txt', 'bin/en-US/about_ManagedIdentity.help.txt') {
            $NupkgEntries | Should -Contain $entry
            $ZipEntries | Should -Contain "ManagedIdentity/$entry"
        }
        $views = @(Get-ChildItem (Join-Path $RepoRoot 'powershell/ManagedIdentity/formats') -Filter *.format.ps1xml)
        $views.Count | Should -BeGreaterThan 0
        foreach ($view in $views) {
            $NupkgEntries | Should -Contain "formats/$($view.Name)"
            $ZipEntries | Should -Contain "ManagedIdentity/formats/$($view.Name)"
        }
    }

    It 'has the nuspec metadata the Gallery shows' {
        $Metadata.id | Should -Be 'ManagedIdentity'
        $Metadata.version | Should -Be $Version
        $Metadata.authors | Should -Not -BeNullOrEmpty
        $Metadata.description | Should -Not -BeNullOrEmpty
        $Metadata.projectUrl | Should -Match '^https://'
        ($Metadata.licenseUrl, $Metadata.license.'#text' | Where-Object { $_ }) | Should -Not -BeNullOrEmpty
        $tags = $Metadata.tags -split '\s+'
        foreach ($tag in 'PSModule', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS') { $tags | Should -Contain $tag }
    }

    It 'ships a manifest with the workspace version, explicit export lists and the Gallery fields' {
        $Manifest.ModuleVersion | Should -Be ($Version -replace '-.*$', '')
        foreach ($list in 'FunctionsToExport', 'CmdletsToExport', 'AliasesToExport', 'VariablesToExport') {
            $Manifest.ContainsKey($list) | Should -BeTrue -Because "$list must be explicit"
            @($Manifest[$list]) -join ',' | Should -Not -Match '\*'
        }
        @($Manifest.FunctionsToExport) + @($Manifest.CmdletsToExport) | Should -Contain 'Get-IdentityToken'
        # One project URL (Cargo.toml [workspace.package] repository) behind all three.
        $projectUri = Get-ProjectUri $RepoRoot
        $projectUri | Should -Match '^https://'
        $Manifest.PrivateData.PSData.ProjectUri | Should -Be $projectUri
        $Manifest.PrivateData.PSData.LicenseUri | Should -Be "$projectUri/blob/main/LICENSE"
        $Manifest.PrivateData.PSData.ReleaseNotes | Should -Match ([regex]::Escape("$projectUri/releases/tag/v$Version"))
        $Metadata.projectUrl | Should -Be $projectUri
        Test-Path (Join-Path $RepoRoot 'LICENSE') | Should -BeTrue -Because 'LicenseUri points at it'
        $Manifest.PrivateData.PSData.ReleaseNotes | Should -Not -BeNullOrEmpty
        $Manifest.CompatiblePSEditions | Should -Contain 'Desktop'
        $Manifest.CompatiblePSEditions | Should -Contain 'Core'
    }

    It 'is named <id>.<version>.nupkg, the only name a folder feed finds' {
        Split-Path $Built.Nupkg -Leaf | Should -Be "ManagedIdentity.$Version.nupkg"
    }

    It 'installs as the README says: a repository on the folder holding the .nupkg, then Install-PSResource' {
        Get-Variable InstallExitCode -Scope Script -ValueOnly | Should -Be 0 -Because ($InstallOutput -join "`n")
        $Unpacked['Install-PSResource'] | Should -Not -BeNullOrEmpty -Because ($InstallOutput -join "`n")
        $versionFolder = Join-Path $Unpacked['Install-PSResource'] ($Version -replace '-.*$', '')
        Test-Path (Join-Path $versionFolder 'ManagedIdentity.psd1') | Should -BeTrue
        foreach ($rid in $Built.Rids) { Test-Path (Join-Path $versionFolder "runtimes/$rid/native") | Should -BeTrue -Because "Install-PSResource keeps runtimes/$rid" }
    }
}

Describe 'Azure Automation zip' -Skip:(-not $CanPackage) {
    It 'has the module folder, named after the module, at the zip root' {
        Split-Path $Built.Zip -Leaf | Should -Be 'ManagedIdentity.zip'
        $ZipEntries | Where-Object { $_ -notlike 'ManagedIdentity/*' } | Should -BeNullOrEmpty
        $ZipEntries | Should -Contain 'ManagedIdentity/ManagedIdentity.psd1'
        $ZipEntries | Should -Contain 'ManagedIdentity/bin/ManagedIdentity.Interop.dll'
        $ZipEntries | Where-Object { $_ -like '*.nuspec' } | Should -BeNullOrEmpty
    }

    It 'carries the <Rid> engine' -ForEach $Rids {
        $ZipEntries | Where-Object { $_ -like "ManagedIdentity/runtimes/$Rid/native/*" } | Should -Not -BeNullOrEmpty
    }

    It 'is under 100 MB, with every path under 140 characters (both packages)' {
        foreach ($package in $Built.Zip, $Built.Nupkg) { (Get-Item $package).Length | Should -BeLessThan 100MB }
        foreach ($path in $ZipEntries + $NupkgEntries) { $path.Length | Should -BeLessThan 140 -Because $path }
    }

    It 'holds the same files as the Gallery package' {
        $fromZip = $ZipEntries | ForEach-Object { $_.Substring('ManagedIdentity/'.Length) } | Sort-Object
        $fromNupkg = $NupkgEntries | Where-Object { $_ -notmatch '^(ManagedIdentity\.nuspec|\[Content_Types\]\.xml|_rels/.*|package/.*)$' } | Sort-Object
        $fromZip | Should -Be $fromNupkg
    }
}

Describe 'The module from each unpacked package, in a fresh process' -Skip:(-not $CanPackage) {
    It 'imports from the <Copy> copy and gets a managed-identity token through its engine' -ForEach $Copies {
        $path = $Unpacked[$Copy]
        $path | Should -Not -BeNullOrEmpty -Because 'the copy was made by an earlier test'
        $output = Invoke-FreshPwsh @"
`$ErrorActionPreference = 'Stop'
`$module = Import-Module '$path' -PassThru
'VERSION=' + `$module.Version
'BASE=' + `$module.ModuleBase
`$null = Connect-Identity -Identity
'PARTS=' + (Get-IdentityToken -AsPlainText).Split('.').Count
"@
        Get-FreshPwshExitCode | Should -Be 0 -Because ($output -join "`n")
        $output | Should -Contain "VERSION=$($Version -replace '-.*$', '')"
        ($output | Where-Object { $_ -like 'BASE=*' }).Substring(5) | Should -BeLike "$((Resolve-Path $path).Path)*" -Because 'the module must load from this copy'
        $output | Should -Contain 'PARTS=3'
    }
}

Describe 'win-x64 engine (PE headers)' {
    BeforeEach {
        if (-not (Test-Path $WinEngine)) { Set-ItResult -Skipped -Because $NoWinEngine }
    }

    It 'is a 64-bit AMD64 DLL' {
        $image = Read-PeImage $WinEngine
        $image.Machine | Should -Be 'AMD64'
        $image.Is64Bit | Should -BeTrue
        $image.IsDll | Should -BeTrue
    }

    It 'exports every entry point the interop assembly imports' {
        $EntryPoints.Count | Should -BeGreaterThan 3
        $exports = (Read-PeImage $WinEngine).Exports
        $EntryPoints | Where-Object { $exports -cnotcontains $_ } | Should -BeNullOrEmpty
    }

    It 'imports only DLLs that every Windows Server 2016+ has' {
        $imports = (Read-PeImage $WinEngine).Imports
        $imports | Should -Contain 'KERNEL32.dll' -Because 'a reader that found no imports would pass anything'
        foreach ($foreign in 'libgcc_s_seh-1.dll', 'libwinpthread-1.dll', 'vcruntime140.dll', 'msvcp140.dll') {
            Test-WindowsSystemDll $foreign | Should -BeFalse -Because "$foreign is not part of Windows"
        }
        $imports | Where-Object { -not (Test-WindowsSystemDll $_) } | Should -BeNullOrEmpty
    }
}

Describe '<Rid> engine (ELF headers)' -ForEach $LinuxEngines {
    BeforeAll {
        $Engine = Join-Path $ModuleFolder "runtimes/$Rid/native/libmanagedidentity_engine.so"
        $Image = if (Test-Path $Engine) { Read-ElfImage $Engine } else { $null }
    }

    BeforeEach {
        if (-not $Image) { Set-ItResult -Skipped -Because "the $Rid engine is absent: it is made $Made" }
    }

    It 'is a 64-bit shared object for its architecture' {
        $Image.Machine | Should -Be $Machine
        $Image.IsSharedObject | Should -BeTrue
    }

    It 'exports every entry point the interop assembly imports, from its dynamic symbol table' {
        $EntryPoints.Count | Should -BeGreaterThan 3
        $Image.Imports | Should -Contain 'malloc' -Because 'the reader tells the symbols it imports from libc'
        $Image.Exports | Should -Not -Contain 'malloc' -Because 'from the ones it exports'
        $EntryPoints | Where-Object { $Image.Exports -cnotcontains $_ } | Should -BeNullOrEmpty
    }

    It 'needs only libraries that every glibc-based Linux has' {
        $Image.Needed | Should -Contain 'libc.so.6' -Because 'a reader that found no DT_NEEDED entries would pass anything'
        foreach ($foreign in 'libssl.so.3', 'libcrypto.so.3', 'libstdc++.so.6', 'libz.so.1', 'ld-linux.so') {
            Test-LinuxSystemLibrary $foreign | Should -BeFalse -Because "$foreign is not part of every glibc system"
        }
        $Image.Needed | Where-Object { -not (Test-LinuxSystemLibrary $_) } | Should -BeNullOrEmpty
        # Versioned symbols come only from those libraries, too.
        $Image.RequiredVersions.Count | Should -BeGreaterThan 0
        $Image.RequiredVersions | Where-Object { $Image.Needed -cnotcontains $_.Library } | Should -BeNullOrEmpty
    }
}
