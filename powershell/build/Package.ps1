# Packaging steps of build.ps1 (dot-sourced by it): one module folder carrying every engine the
# build has, a PowerShell Gallery package made by PSResourceGet itself (Compress-PSResource runs
# the code Publish-PSResource runs) and an Azure Automation import zip. Needs PowerShell 7.4+
# (PSResourceGet 1.1+ ships with it).

$script:ModuleName = 'ManagedIdentity'
# Azure Automation's documented limits for an imported module (shared-resources/modules.md).
$script:AutomationMaxBytes = 100MB
$script:AutomationMaxPath = 140
# Tags the Gallery uses to filter by edition and platform, on top of the manifest's own.
$script:GalleryTags = @('PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')

function Get-WorkspaceValue {
    # A string key of [workspace.package] in Cargo.toml.
    param([Parameter(Mandatory)] [string] $Root, [Parameter(Mandatory)] [string] $Key)
    $section = $null
    foreach ($line in Get-Content (Join-Path $Root 'Cargo.toml')) {
        if ($line -match '^\s*\[([^\]]+)\]') { $section = $Matches[1].Trim(); continue }
        if ($section -eq 'workspace.package' -and $line -match "^\s*$([regex]::Escape($Key))\s*=\s*`"([^`"]+)`"") { return $Matches[1] }
    }
    throw "Cargo.toml has no [workspace.package] $Key."
}

function Get-WorkspaceVersion {
    # The one version of the project: [workspace.package] version in Cargo.toml.
    param([Parameter(Mandatory)] [string] $Root)
    Get-WorkspaceValue $Root 'version'
}

function Get-ProjectUri {
    # The one project URL: [workspace.package] repository in Cargo.toml. The Gallery manifest's
    # ProjectUri, LicenseUri and ReleaseNotes and every command's -Online help link derive from it.
    param([Parameter(Mandatory)] [string] $Root)
    (Get-WorkspaceValue $Root 'repository').TrimEnd('/')
}

function Get-CommandHelpUri {
    # Where Get-Help <command> -Online goes: the command's section of the README.
    param([Parameter(Mandatory)] [string] $ProjectUri, [Parameter(Mandatory)] [string] $Command)
    "$ProjectUri/blob/main/README.md#$($Command.ToLowerInvariant())"
}

function ConvertTo-ModuleVersion {
    # SemVer 2 (Cargo) to a PowerShell ModuleVersion plus a Gallery Prerelease label, which
    # allows only [A-Za-z0-9]: 1.2.0-beta.1 -> 1.2.0 and 'beta1'.
    param([Parameter(Mandatory)] [string] $Version)
    if ($Version -notmatch '^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$') { throw "'$Version' is not a SemVer version." }
    [pscustomobject]@{
        ModuleVersion = $Matches[1]
        Prerelease    = if ($Matches[2]) { $Matches[2] -replace '[^0-9A-Za-z]', '' } else { '' }
        Full          = if ($Matches[2]) { "$($Matches[1])-$($Matches[2] -replace '[^0-9A-Za-z]', '')" } else { $Matches[1] }
    }
}

function Get-ModuleEngine {
    # Every engine a module folder carries: runtimes/<rid>/native/<library>.
    param([Parameter(Mandatory)] [string] $ModuleFolder)
    $runtimes = Join-Path $ModuleFolder 'runtimes'
    if (-not (Test-Path $runtimes)) { return }
    foreach ($dir in Get-ChildItem $runtimes -Directory | Sort-Object Name) {
        foreach ($file in Get-ChildItem (Join-Path $dir.FullName 'native') -File -ErrorAction SilentlyContinue | Where-Object Extension -In '.dll', '.so', '.dylib') {
            [pscustomobject]@{ Rid = $dir.Name; File = $file.Name; Bytes = $file.Length; Path = $file.FullName }
        }
    }
}

function Find-EngineFile {
    # The engines built elsewhere (CI runners) under $EnginePath: at any depth,
    # runtimes/<rid>/native/<library> trees (how each runner uploads its build).
    param([Parameter(Mandatory)] [string] $EnginePath)
    if (-not (Test-Path $EnginePath)) { throw "The engine folder '$EnginePath' does not exist." }
    $found = @(Get-ChildItem $EnginePath -Recurse -File | Where-Object {
            $_.Extension -in '.dll', '.so', '.dylib' -and $_.Directory.Name -eq 'native' -and $_.Directory.Parent.Parent.Name -eq 'runtimes'
        })
    if ($found.Count -eq 0) { throw "No runtimes/<rid>/native/<library> found under '$EnginePath'." }
    foreach ($file in $found) { [pscustomobject]@{ Rid = $file.Directory.Parent.Name; File = $file } }
}

function Add-ModuleEngine {
    # Copies the engines found under $EnginePath (Find-EngineFile) into the module folder.
    param([Parameter(Mandatory)] [string] $ModuleFolder, [Parameter(Mandatory)] [string] $EnginePath)
    foreach ($engine in Find-EngineFile $EnginePath) {
        $target = Join-Path $ModuleFolder "runtimes/$($engine.Rid)/native"
        New-Item -ItemType Directory -Force $target | Out-Null
        Copy-Item $engine.File.FullName (Join-Path $target $engine.File.Name) -Force
        Write-Host "Engine added: $($engine.Rid)/$($engine.File.Name)"
    }
}

function Get-ModuleExport {
    # What the module really exports, read by importing it in a fresh pwsh (the manifest's lists
    # may hold wildcards; the Gallery and PowerShell's command discovery want explicit names).
    param([Parameter(Mandatory)] [string] $ModuleFolder)
    # pwsh on PATH, else the one running this (a Windows pwsh that is not installed, e.g. under Wine).
    $command = Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $pwsh = if ($command) { $command.Source } elseif ($IsWindows) { Join-Path $PSHOME 'pwsh.exe' } else { Join-Path $PSHOME 'pwsh' }
    $script = "`$m = Import-Module '$ModuleFolder' -PassThru -ErrorAction Stop; " +
    "'F=' + (@(`$m.ExportedFunctions.Keys | Sort-Object) -join ','); " +
    "'C=' + (@(`$m.ExportedCmdlets.Keys | Sort-Object) -join ','); " +
    "'A=' + (@(`$m.ExportedAliases.Keys | Sort-Object) -join ',')"
    $lines = & $pwsh -NoProfile -NonInteractive -Command $script
    if ($LASTEXITCODE -ne 0) { throw "Importing the staged module failed: $($lines -join ' ')" }
    $result = @{ Functions = @(); Cmdlets = @(); Aliases = @() }
    foreach ($line in $lines) {
        if ($line -match '^([FCA])=(.*)$') {
            $names = @($Matches[2] -split ',' | Where-Object { $_ })
            switch ($Matches[1]) { 'F' { $result.Functions = $names } 'C' { $result.Cmdlets = $names } 'A' { $result.Aliases = $names } }
        }
    }
    [pscustomobject]$result
}

function Write-GalleryManifest {
    # Rewrites the staged manifest for the Gallery: the workspace version, explicit export lists,
    # ProjectUri, LicenseUri, ReleaseNotes and the edition/platform tags. Everything else is
    # carried over as the source manifest has it.
    param([Parameter(Mandatory)] [string] $ModuleFolder, [Parameter(Mandatory)] $Version, [Parameter(Mandatory)] [string] $ProjectUri)
    Set-StrictMode -Version 3.0
    $path = Join-Path $ModuleFolder "$script:ModuleName.psd1"
    $source = Import-PowerShellDataFile $path
    $exports = Get-ModuleExport $ModuleFolder
    $settings = @{}
    foreach ($key in $source.Keys) { if ($key -ne 'PrivateData') { $settings[$key] = $source[$key] } }
    $settings.ModuleVersion = $Version.ModuleVersion
    if (-not $settings.ContainsKey('CompanyName') -and $settings.ContainsKey('Author')) { $settings.CompanyName = $settings.Author }
    $settings.FunctionsToExport = [string[]]$exports.Functions
    $settings.CmdletsToExport = [string[]]$exports.Cmdlets
    $settings.AliasesToExport = [string[]]$exports.Aliases
    $settings.VariablesToExport = [string[]]@()
    $privateData = @{}
    $psData = @{}
    if ($source.ContainsKey('PrivateData') -and $source['PrivateData'] -is [hashtable]) {
        foreach ($key in $source['PrivateData'].Keys) { if ($key -ne 'PSData') { $privateData[$key] = $source['PrivateData'][$key] } }
        if ($source['PrivateData'].ContainsKey('PSData')) { $psData = $source['PrivateData']['PSData'] }
    }
    foreach ($key in $psData.Keys) { $settings[$key] = $psData[$key] }
    $existingTags = if ($psData.ContainsKey('Tags')) { @($psData['Tags']) } else { @() }
    $tags = @($existingTags + $script:GalleryTags | Where-Object { $_ } | Select-Object -Unique)
    $settings.Tags = [string[]]$tags
    $settings.ProjectUri = $ProjectUri
    $settings.LicenseUri = "$ProjectUri/blob/main/LICENSE"
    $settings.ReleaseNotes = "$script:ModuleName $($Version.Full): $ProjectUri/releases/tag/v$($Version.Full)"
    if ($Version.Prerelease) { $settings.Prerelease = $Version.Prerelease } else { $settings.Remove('Prerelease') }
    if ($privateData.Count -gt 0) { $settings.PrivateData = $privateData }
    $settings.Path = $path
    New-ModuleManifest @settings
    # New-ModuleManifest comments out an empty VariablesToExport; an explicit empty list keeps
    # PowerShell from exporting every variable the module defines.
    $text = [IO.File]::ReadAllText($path)
    $text = [regex]::Replace($text, '(?m)^#\s*VariablesToExport\s*=.*$', 'VariablesToExport = @()')
    # UTF-8 with a byte-order mark, so Windows PowerShell 5.1 reads any non-ASCII text right.
    [IO.File]::WriteAllText($path, $text, [Text.UTF8Encoding]::new($true))
    $null = Test-ModuleManifest $path -ErrorAction Stop
}

function New-ZipFromFolder {
    # Zips a folder with '/' separators (as every unzip and Automation's importer expect), the
    # folder itself at the archive root when -IncludeFolder is set.
    param([Parameter(Mandatory)] [string] $Folder, [Parameter(Mandatory)] [string] $Destination, [switch] $IncludeFolder)
    Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
    if (Test-Path $Destination) { Remove-Item $Destination -Force }
    $base = (Resolve-Path $Folder).Path.TrimEnd([IO.Path]::DirectorySeparatorChar)
    $prefix = if ($IncludeFolder) { (Split-Path $base -Leaf) + '/' } else { '' }
    $zip = [IO.Compression.ZipFile]::Open($Destination, [IO.Compression.ZipArchiveMode]::Create)
    try {
        foreach ($file in Get-ChildItem $base -Recurse -File | Sort-Object FullName) {
            $relative = $file.FullName.Substring($base.Length + 1).Replace([IO.Path]::DirectorySeparatorChar, '/')
            $null = [IO.Compression.ZipFileExtensions]::CreateEntryFromFile($zip, $file.FullName, $prefix + $relative, [IO.Compression.CompressionLevel]::Optimal)
        }
    }
    finally { $zip.Dispose() }
}

function Get-ZipEntryPath {
    param([Parameter(Mandatory)] [string] $Path)
    Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
    $zip = [IO.Compression.ZipFile]::OpenRead($Path)
    try { @($zip.Entries | ForEach-Object FullName) } finally { $zip.Dispose() }
}

function Assert-AutomationLimit {
    # Azure Automation refuses modules over 100 MB or with a file path of 140 characters or more.
    param([Parameter(Mandatory)] [string] $Zip)
    $size = (Get-Item $Zip).Length
    if ($size -ge $script:AutomationMaxBytes) { throw "$Zip is $size bytes; Azure Automation accepts modules under 100 MB." }
    $long = @(Get-ZipEntryPath $Zip | Where-Object { $_.Length -ge $script:AutomationMaxPath })
    if ($long.Count -gt 0) { throw "Paths of $script:AutomationMaxPath characters or more in $Zip (Azure Automation refuses them): $($long -join ', ')" }
}

function Invoke-Package {
    # Stages out/package/ManagedIdentity from the built module folder, then writes
    # out/ManagedIdentity.<version>.nupkg and out/ManagedIdentity.zip, and prints both with the
    # engines they carry. Returns the two paths.
    param([Parameter(Mandatory)] [string] $Root, [Parameter(Mandatory)] [string] $ModuleFolder, [Parameter(Mandatory)] [string] $Out)
    Set-StrictMode -Version 3.0
    if (-not (Get-Command Compress-PSResource -ErrorAction SilentlyContinue)) {
        throw 'Packaging needs Compress-PSResource (Microsoft.PowerShell.PSResourceGet 1.1+, shipped with PowerShell 7.4+).'
    }
    $version = ConvertTo-ModuleVersion (Get-WorkspaceVersion $Root)
    $projectUri = Get-ProjectUri $Root
    $staging = Join-Path $Out 'package'
    $stage = Join-Path $staging $script:ModuleName
    if (Test-Path $staging) { Remove-Item $staging -Recurse -Force }
    New-Item -ItemType Directory -Force $stage | Out-Null
    Copy-Item (Join-Path $ModuleFolder '*') $stage -Recurse -Force
    # Leftovers of an interrupted Publish-File (build.ps1 replaces files by rename) never ship.
    Get-ChildItem $stage -Recurse -File -Filter '*.new' | Remove-Item -Force
    Write-GalleryManifest -ModuleFolder $stage -Version $version -ProjectUri $projectUri

    $nupkgFolder = Join-Path $staging 'nupkg'
    New-Item -ItemType Directory -Force $nupkgFolder | Out-Null
    Compress-PSResource -Path $stage -DestinationPath $nupkgFolder
    $made = Get-ChildItem $nupkgFolder -Filter '*.nupkg' | Select-Object -First 1
    if (-not $made) { throw "Compress-PSResource made no .nupkg in $nupkgFolder." }
    # <id>.<version>.nupkg, the name Compress-PSResource gives it: a NuGet folder feed (and so a
    # PSResourceGet repository registered on the folder, as the README says) finds no other name.
    $nupkg = Join-Path $Out "$script:ModuleName.$($version.Full).nupkg"
    # Earlier builds' packages, and those of the former name ManagedIdentity-<version>.nupkg.
    Get-ChildItem $Out -Filter '*.nupkg' | Where-Object Name -Match "^$script:ModuleName[-.]\d" | Remove-Item -Force
    Move-Item $made.FullName $nupkg -Force

    $zip = Join-Path $Out "$script:ModuleName.zip"
    New-ZipFromFolder -Folder $stage -Destination $zip -IncludeFolder
    Assert-AutomationLimit $zip

    $engines = @(Get-ModuleEngine $stage)
    $ridList = @($engines | ForEach-Object Rid | Sort-Object -Unique)
    $rids = if ($ridList.Count -gt 0) { $ridList -join ', ' } else { 'none' }
    foreach ($package in $nupkg, $zip) {
        Write-Host ('Package: {0} ({1:N1} MiB), engines: {2}' -f $package, ((Get-Item $package).Length / 1MB), $rids) -ForegroundColor Green
    }
    foreach ($engine in $engines) { Write-Host ('  runtimes/{0}/native/{1}  {2:N1} MiB' -f $engine.Rid, $engine.File, ($engine.Bytes / 1MB)) }
    if ($ridList -notcontains 'win-x64') {
        Write-Warning 'The packages carry no win-x64 engine, which Azure Automation''s Windows sandboxes need.'
    }
    [pscustomobject]@{ Nupkg = $nupkg; Zip = $zip; Stage = $stage; Version = $version.Full; Rids = $ridList }
}
