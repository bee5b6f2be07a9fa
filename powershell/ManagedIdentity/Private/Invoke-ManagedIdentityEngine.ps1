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
            $chunk = [ManagedIdentity.Interop.Json]::Parse($text)
            foreach ($event in $chunk.events) {
                switch ($event.type) {
                    'item' {
                        $item = $event.item
                        if ($ItemTypeName -and $item -is [System.Management.Automation.PSCustomObject]) {
                            # One of our result objects: a failed one is also a non-terminating error.
                            $item.PSObject.TypeNames.Insert(0, $ItemTypeName)
                            $Cmdlet.WriteObject($item)
                            if ($item.PSObject.Properties['Error'] -and $null -ne $item.Error) {
                                $Cmdlet.WriteError((New-ManagedIdentityErrorRecord -EngineError $item.Error -Target $item))
                            }
                        }
                        else {
                            $Cmdlet.WriteObject($item)
                        }
                    }
                    'warning' { $Cmdlet.WriteWarning($event.message) }
                    'verbose' { $Cmdlet.WriteVerbose($event.message) }
                    'progress' {
                        $record = New-Object System.Management.Automation.ProgressRecord (1, $event.activity, $event.status)
                        if ($event.percent -ge 0) { $record.PercentComplete = [Math]::Min(100, [int]$event.percent) }
                        if ($event.completed) { $record.RecordType = [System.Management.Automation.ProgressRecordType]::Completed }
                        $progressShown[$event.activity] = -not $event.completed
                        $Cmdlet.WriteProgress($record)
                    }
                }
            }
            if ($chunk.done) {
                if ($chunk.PSObject.Properties['error'] -and $null -ne $chunk.error) {
                    $Cmdlet.ThrowTerminatingError((New-ManagedIdentityErrorRecord -EngineError $chunk.error -Target $Target))
                }
                return $chunk.result
            }
        }
    }
    finally {
        $running.Dispose()
        foreach ($activity in @($progressShown.Keys)) {
            if ($progressShown[$activity]) {
                $done = New-Object System.Management.Automation.ProgressRecord (1, $activity, 'Stopped')
                $done.RecordType = [System.Management.Automation.ProgressRecordType]::Completed
                $Cmdlet.WriteProgress($done)
            }
        }
    }
}
