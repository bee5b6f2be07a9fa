#Requires -Version 7.0
<#
.SYNOPSIS
    Regenerates the engine's compact Microsoft Graph permission table from Microsoft's public
    permissions reference.

.DESCRIPTION
    Reads permissions/new/permissions.json and permissions/new/provisioningInfo.json from a
    checkout of https://github.com/microsoftgraph/microsoft-graph-devx-content (MIT) and writes
    rust/graph-permissions/data/graph-permissions.json.gz (gzip of compact JSON: per
    permission its name, per scheme its id and privilege level, and its path sets: schemes,
    methods, path templates with their raw least=/AlsoRequires= markers; no descriptions) and
    graph-permissions.source.txt (repository, path, commit id and date) beside it.
    The engine embeds the .gz file and decodes it once, on first use.

.EXAMPLE
    git clone --filter=blob:none https://github.com/microsoftgraph/microsoft-graph-devx-content /tmp/devx
    ./tools/Update-GraphPermissionData.ps1 -Repository /tmp/devx

.EXAMPLE
    # From the two raw files, without a checkout (commit and date as recorded where they came from)
    ./tools/Update-GraphPermissionData.ps1 -PermissionsPath ./permissions.json -ProvisioningPath ./provisioningInfo.json -Commit 6cbd6bb... -CommitDate 2026-08-07T10:00:06-04:00
#>
[CmdletBinding(DefaultParameterSetName = 'Repository')]
param(
    [Parameter(Mandatory, ParameterSetName = 'Repository')]
    [string] $Repository,

    [Parameter(Mandatory, ParameterSetName = 'Files')]
    [string] $PermissionsPath,

    [Parameter(Mandatory, ParameterSetName = 'Files')]
    [string] $ProvisioningPath,

    [Parameter(Mandatory, ParameterSetName = 'Files')]
    [ValidatePattern('^[0-9a-f]{40}$')]
    [string] $Commit,

    [Parameter(Mandatory, ParameterSetName = 'Files')]
    [string] $CommitDate,

    [string] $OutputDirectory = (Join-Path $PSScriptRoot '../rust/graph-permissions/data')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$GraphAppId = '00000003-0000-0000-c000-000000000000'
$SourceRepository = 'https://github.com/microsoftgraph/microsoft-graph-devx-content'
$SourcePath = 'permissions/new/permissions.json'

if ($PSCmdlet.ParameterSetName -eq 'Repository') {
    $PermissionsPath = Join-Path $Repository $SourcePath
    $ProvisioningPath = Join-Path $Repository 'permissions/new/provisioningInfo.json'
    $Commit = (git -C $Repository rev-parse HEAD).Trim()
    $CommitDate = (git -C $Repository log -1 --format=%cI).Trim()
    if ($LASTEXITCODE -ne 0) { throw "git could not read the commit of $Repository" }
}

$permissions = (Get-Content -Raw $PermissionsPath | ConvertFrom-Json -AsHashtable).permissions
$deployments = (Get-Content -Raw $ProvisioningPath | ConvertFrom-Json -AsHashtable).permissionDeployments

$out = [System.Collections.Generic.List[object]]::new()
foreach ($name in $permissions.Keys) {
    $permission = $permissions[$name]
    # Ids: Microsoft Graph's own deployments in the public cloud.
    $ids = @{}
    if ($deployments.ContainsKey($name)) {
        foreach ($d in $deployments[$name]) {
            $public = @("$($d.environment)".Split(';')) -contains 'public'
            $graph = [string]::IsNullOrEmpty($d.resourceAppId) -or $d.resourceAppId -eq $GraphAppId
            if ($public -and $graph -and -not $ids.ContainsKey($d.scheme)) { $ids[$d.scheme] = $d.id }
        }
    }
    $schemes = [ordered]@{}
    foreach ($scheme in $permission.schemes.Keys | Sort-Object) {
        $entry = [ordered]@{}
        if ($ids.ContainsKey($scheme)) { $entry.id = $ids[$scheme] }
        $level = $permission.schemes[$scheme]['privilegeLevel']
        if ($null -ne $level) { $entry.level = [int]$level }
        $schemes[$scheme] = $entry
    }
    $sets = foreach ($set in $permission.pathSets) {
        [ordered]@{
            schemes = @($set.schemeKeys)
            methods = @($set.methods)
            paths   = @(foreach ($path in $set.paths.Keys) { , @($path, [string]$set.paths[$path]) })
        }
    }
    $out.Add([ordered]@{ name = $name; schemes = $schemes; pathSets = @($sets) })
}

$document = [ordered]@{
    source      = [ordered]@{
        repository = $SourceRepository
        path       = $SourcePath
        commit     = $Commit
        commitDate = $CommitDate
        license    = 'MIT'
    }
    permissions = $out
}
$json = $document | ConvertTo-Json -Depth 12 -Compress
$bytes = [System.Text.UTF8Encoding]::new($false).GetBytes($json)

$null = New-Item -ItemType Directory -Force $OutputDirectory
$target = Join-Path $OutputDirectory 'graph-permissions.json.gz'
$file = [System.IO.File]::Create($target)
try {
    $gzip = [System.IO.Compression.GZipStream]::new($file, [System.IO.Compression.CompressionLevel]::SmallestSize)
    try { $gzip.Write($bytes, 0, $bytes.Length) } finally { $gzip.Dispose() }
}
finally { $file.Dispose() }

@(
    "repository: $SourceRepository"
    "path: $SourcePath (and permissions/new/provisioningInfo.json for the ids)"
    "commit: $Commit"
    "commit date: $CommitDate"
    'license: MIT'
    "permissions: $($out.Count)"
    'regenerate: tools/Update-GraphPermissionData.ps1 -Repository <checkout of the repository above>'
) | Set-Content -Path (Join-Path $OutputDirectory 'graph-permissions.source.txt') -Encoding utf8NoBOM

[pscustomobject]@{ Permissions = $out.Count; JsonBytes = $bytes.Length; GzipBytes = (Get-Item $target).Length; Commit = $Commit }
