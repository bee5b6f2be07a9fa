function New-ManagedIdentityErrorRecord {
    <#
    .SYNOPSIS
        Turns an engine error ({errorId, kind, category, message, details}) into an ErrorRecord
        with a stable FullyQualifiedErrorId and the engine's ErrorCategory.
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)] [object] $EngineError,
        [object] $Target
    )
    $details = $null
    if ($EngineError.PSObject.Properties['details']) { $details = $EngineError.details }
    $exception = New-Object ManagedIdentity.Interop.ManagedIdentityException (
        [string]$EngineError.errorId, [string]$EngineError.kind, [string]$EngineError.category, [string]$EngineError.message, $details)
    $category = [System.Management.Automation.ErrorCategory]::NotSpecified
    [void][Enum]::TryParse([string]$EngineError.category, [ref]$category)
    New-Object System.Management.Automation.ErrorRecord ($exception, [string]$EngineError.errorId, $category, $Target)
}
