function Invoke-ManagedIdentityEngine {
    <#
    .SYNOPSIS
        Runs one engine operation for a public command: sends the request, relays progress,
        warnings, verbose lines and streamed items through the caller's $PSCmdlet, and returns
        the operation's result. Polls in short waits so Ctrl+C stops it (the finally block
        cancels the operation in the engine).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory)] [string] $Operation,
        [hashtable] $Arguments = @{},
        [securestring] $Secret,
        [string] $ItemTypeName,
        [object] $Target
    )
    $request = [ManagedIdentity.Interop.Json]::Serialize(@{ op = $Operation; args = $Arguments })
    $running = [ManagedIdentity.Interop.Engine]::Start($request, $Secret)
    $progressShown = @{}
    try {
        while ($true) {
            $text = $running.Poll(200)
            if ($null -eq $text) { continue }
            $chunk = [ManagedIdentity.Interop.EngineChunk]::Parse($text, $ItemTypeName)
            foreach ($message in $chunk.Warnings) { $Cmdlet.WriteWarning($message) }
            foreach ($message in $chunk.Verbose) { $Cmdlet.WriteVerbose($message) }
            foreach ($record in $chunk.Progress) {
                $progressShown[$record.Activity] = ($record.RecordType -ne [System.Management.Automation.ProgressRecordType]::Completed)
                $Cmdlet.WriteProgress($record)
            }
            if ($chunk.Items.Count -gt 0) { $Cmdlet.WriteObject($chunk.Items, $true) }
            # A failed result object is also a non-terminating error.
            foreach ($failed in $chunk.FailedItems) {
                $Cmdlet.WriteError((New-ManagedIdentityErrorRecord -EngineError $failed.Error -Target $failed))
            }
            if ($chunk.Done) {
                if ($null -ne $chunk.Error) {
                    $Cmdlet.ThrowTerminatingError((New-ManagedIdentityErrorRecord -EngineError $chunk.Error -Target $Target))
                }
                return $chunk.Result
            }
        }
    }
    finally {
        $running.Dispose()
        foreach ($activity in @($progressShown.Keys)) {
            if ($progressShown[$activity]) {
                $done = [System.Management.Automation.ProgressRecord]::new(1, $activity, 'Stopped')
                $done.RecordType = [System.Management.Automation.ProgressRecordType]::Completed
                $Cmdlet.WriteProgress($done)
            }
        }
    }
}
