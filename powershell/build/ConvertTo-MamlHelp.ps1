<#
.SYNOPSIS
    Writes the MAML help file of the compiled ManagedIdentity cmdlets from the help source.
.DESCRIPTION
    Text (synopsis, description, parameter descriptions, examples, outputs) comes from the help
    source data file; syntax, parameter types, mandatory/position, pipeline input, aliases and
    wildcard support come from the cmdlets themselves, read from the staged module. Fails when a
    command or a parameter is documented in one place but not the other. Run in a fresh pwsh (it
    imports the staged module).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $HelpSource,
    [Parameter(Mandatory)] [string] $OutputPath,
    # The project URL (build.ps1 passes Get-ProjectUri): each command's first related link, which
    # Get-Help -Online opens, is its section of the README there.
    [Parameter(Mandatory)] [string] $ProjectUri
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$source = Import-PowerShellDataFile -Path $HelpSource
. (Join-Path $PSScriptRoot 'Package.ps1')
$module = Import-Module $ModulePath -PassThru -Force
$common = [System.Management.Automation.Cmdlet]::CommonParameters + @('UseTransaction')
# -WhatIf / -Confirm (SupportsShouldProcess) are documented with the usual text unless the source says more.
$shouldProcessText = @{
    WhatIf  = 'Shows what would happen if the command runs. The command is not run.'
    Confirm = 'Prompts you for confirmation before running the command.'
}
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name)

$missing = @($commands.Name | Where-Object { -not $source.ContainsKey($_) })
$unknown = @($source.Keys | Where-Object { $commands.Name -notcontains $_ })
if ($missing -or $unknown) { throw "Help source and cmdlets differ: undocumented [$($missing -join ', ')], unknown [$($unknown -join ', ')]." }

$maml = 'http://schemas.microsoft.com/maml/2004/10'
$command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
New-Item -ItemType Directory -Force (Split-Path $OutputPath) | Out-Null
$writer = [System.Xml.XmlWriter]::Create($OutputPath, $settings)

function Write-Paragraphs([string] $Text) {
    # Blank lines separate paragraphs; lines inside one are joined.
    foreach ($paragraph in ($Text.Trim() -split '\r?\n\s*\r?\n')) {
        $writer.WriteElementString('para', $maml, (($paragraph -split '\r?\n' | ForEach-Object { $_.Trim() }) -join ' '))
    }
}

function Write-Description([string] $Text) {
    $writer.WriteStartElement('description', $maml)
    Write-Paragraphs $Text
    $writer.WriteEndElement()
}

function Get-PipelineInput($Parameter) {
    $kinds = @()
    foreach ($attribute in $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }) {
        if ($attribute.ValueFromPipeline) { $kinds += 'ByValue' }
        if ($attribute.ValueFromPipelineByPropertyName) { $kinds += 'ByPropertyName' }
    }
    $kinds = @($kinds | Select-Object -Unique)
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Write-Parameter($Parameter, $SetParameter, [string] $Text) {
    # $SetParameter: the parameter as seen in one parameter set (mandatory/position), or $null
    # for the parameter list (then the strictest set's values are shown).
    $required = if ($SetParameter) { $SetParameter.IsMandatory } else { @($Parameter.ParameterSets.Values | Where-Object IsMandatory).Count -gt 0 }
    $position = 'named'
    $positions = if ($SetParameter) { @($SetParameter.Position) } else { @($Parameter.ParameterSets.Values.Position) }
    $positions = @($positions | Where-Object { $_ -ge 0 })
    if ($positions.Count -gt 0) { $position = [string]($positions[0]) }
    $isSwitch = $Parameter.ParameterType -eq [System.Management.Automation.SwitchParameter]
    $globbing = @($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }).Count -gt 0
    $writer.WriteStartElement('parameter', $command)
    $writer.WriteAttributeString('required', $required.ToString().ToLowerInvariant())
    $writer.WriteAttributeString('variableLength', $Parameter.ParameterType.IsArray.ToString().ToLowerInvariant())
    $writer.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $writer.WriteAttributeString('pipelineInput', (Get-PipelineInput $Parameter))
    $writer.WriteAttributeString('position', $position)
    $writer.WriteAttributeString('aliases', $(if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }))
    $writer.WriteElementString('name', $maml, $Parameter.Name)
    Write-Description $Text
    $typeName = $Parameter.ParameterType.Name
    if ($Parameter.ParameterType.FullName -eq 'ManagedIdentity.Context') { $typeName = 'ManagedIdentity.Context' }
    if (-not $isSwitch) {
        $writer.WriteStartElement('parameterValue', $command)
        $writer.WriteAttributeString('required', 'true')
        $writer.WriteAttributeString('variableLength', $Parameter.ParameterType.IsArray.ToString().ToLowerInvariant())
        $writer.WriteString($typeName)
        $writer.WriteEndElement()
        $validateSet = $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
        if ($validateSet) {
            $writer.WriteStartElement('parameterValueGroup', $command)
            foreach ($value in $validateSet.ValidValues) {
                $writer.WriteStartElement('parameterValue', $command)
                $writer.WriteAttributeString('required', 'false')
                $writer.WriteAttributeString('variableLength', 'false')
                $writer.WriteString($value)
                $writer.WriteEndElement()
            }
            $writer.WriteEndElement()
        }
    }
    $writer.WriteStartElement('type', $dev)
    $writer.WriteElementString('name', $maml, $Parameter.ParameterType.FullName)
    $writer.WriteEndElement()
    $writer.WriteEndElement()
}

$writer.WriteStartDocument()
$writer.WriteStartElement('helpItems', 'http://msh')
$writer.WriteAttributeString('schema', 'maml')
foreach ($cmdlet in $commands) {
    $help = $source[$cmdlet.Name]
    foreach ($key in 'Synopsis', 'Description', 'Parameters', 'Examples') {
        if (-not $help.ContainsKey($key) -or -not $help[$key]) { throw "Help source: $($cmdlet.Name) has no $key." }
    }
    $parameters = @($cmdlet.Parameters.Values | Where-Object { $common -notcontains $_.Name } | Sort-Object Name)
    foreach ($name in $shouldProcessText.Keys) {
        if ($cmdlet.Parameters.ContainsKey($name) -and -not $help.Parameters.Contains($name)) { $help.Parameters[$name] = $shouldProcessText[$name] }
    }
    $undocumented = @($parameters.Name | Where-Object { -not $help.Parameters.Contains($_) -or [string]::IsNullOrWhiteSpace($help.Parameters[$_]) })
    $extra = @($help.Parameters.Keys | Where-Object { $parameters.Name -notcontains $_ })
    if ($undocumented -or $extra) { throw "Help source: $($cmdlet.Name) parameters undocumented [$($undocumented -join ', ')], unknown [$($extra -join ', ')]." }

    $writer.WriteStartElement('command', 'command', $command)
    $writer.WriteAttributeString('xmlns', 'maml', $null, $maml)
    $writer.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $writer.WriteStartElement('details', $command)
    $writer.WriteElementString('name', $command, $cmdlet.Name)
    $writer.WriteElementString('verb', $command, $cmdlet.Verb)
    $writer.WriteElementString('noun', $command, $cmdlet.Noun)
    Write-Description $help.Synopsis
    $writer.WriteEndElement()
    Write-Description $help.Description

    $writer.WriteStartElement('syntax', $command)
    foreach ($set in $cmdlet.ParameterSets) {
        $writer.WriteStartElement('syntaxItem', $command)
        $writer.WriteElementString('name', $maml, $cmdlet.Name)
        $ordered = $set.Parameters | Where-Object { $common -notcontains $_.Name } |
            Sort-Object -Stable @{ Expression = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ Expression = { -not $_.IsMandatory } }
        foreach ($setParameter in $ordered) {
            Write-Parameter $cmdlet.Parameters[$setParameter.Name] $setParameter $help.Parameters[$setParameter.Name]
        }
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()

    $writer.WriteStartElement('parameters', $command)
    foreach ($parameter in $parameters) { Write-Parameter $parameter $null $help.Parameters[$parameter.Name] }
    $writer.WriteEndElement()

    $inputs = @($parameters | Where-Object { (Get-PipelineInput $_) -ne 'False' })
    $writer.WriteStartElement('inputTypes', $command)
    foreach ($parameter in $inputs) {
        $writer.WriteStartElement('inputType', $command)
        $writer.WriteStartElement('type', $dev)
        $writer.WriteElementString('name', $maml, $parameter.ParameterType.FullName)
        $writer.WriteEndElement()
        Write-Description "-$($parameter.Name): $(Get-PipelineInput $parameter)"
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()

    $writer.WriteStartElement('returnValues', $command)
    if ($help.ContainsKey('Outputs') -and $help.Outputs) {
        $writer.WriteStartElement('returnValue', $command)
        $writer.WriteStartElement('type', $dev)
        $writer.WriteElementString('name', $maml, $help.Outputs)
        $writer.WriteEndElement()
        Write-Description ' '
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()

    $writer.WriteStartElement('examples', $command)
    $number = 0
    foreach ($example in $help.Examples) {
        $number++
        $title = "Example $number"
        if ($example.Title) { $title += ": $($example.Title)" }
        $writer.WriteStartElement('example', $command)
        $writer.WriteElementString('title', $maml, "-------------------------- $title --------------------------")
        $writer.WriteElementString('code', $dev, $example.Code.Trim())
        $writer.WriteStartElement('remarks', $dev)
        Write-Paragraphs $(if ($example.ContainsKey('Remarks')) { $example.Remarks } else { ' ' })
        $writer.WriteEndElement()
        $writer.WriteEndElement()
    }
    $writer.WriteEndElement()

    $writer.WriteStartElement('relatedLinks', $maml)
    $writer.WriteStartElement('navigationLink', $maml)
    $writer.WriteElementString('linkText', $maml, 'Online Version:')
    $writer.WriteElementString('uri', $maml, (Get-CommandHelpUri -ProjectUri $ProjectUri -Command $cmdlet.Name))
    $writer.WriteEndElement()
    $writer.WriteStartElement('navigationLink', $maml)
    $writer.WriteElementString('linkText', $maml, 'about_ManagedIdentity')
    $writer.WriteElementString('uri', $maml, '')
    $writer.WriteEndElement()
    $writer.WriteEndElement()
    $writer.WriteEndElement()
}
$writer.WriteEndElement()
$writer.WriteEndDocument()
$writer.Dispose()
Write-Host "Help for $($commands.Count) commands written to $OutputPath"
