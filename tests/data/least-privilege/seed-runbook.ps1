# The tutorial's runbook: connects with the Automation account's managed identity "with least
# required permission scope", mails a summary of yesterday's failed sign-ins and of the
# applications registered in the tenant.
param(
    [string] $Sender = 'automation@contoso.com',
    [string] $Recipient = 'it-ops@contoso.com'
)

Connect-MgGraph -Identity -ClientId '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0' -NoWelcome

$since = (Get-Date).AddDays(-1).ToString('yyyy-MM-ddTHH:mm:ssZ')
$signIns = Get-MgAuditLogSignIn -Filter "createdDateTime ge $since and status/errorCode ne 0" -All
$applications = Get-MgApplication -All -Property displayName, appId, createdDateTime

$body = @"
Failed sign-ins since $since : $($signIns.Count)
Applications registered: $($applications.Count)
"@

$message = @{
    Message         = @{
        Subject      = 'Daily identity summary'
        Body         = @{ ContentType = 'Text'; Content = $body }
        ToRecipients = @(@{ EmailAddress = @{ Address = $Recipient } })
    }
    SaveToSentItems = $false
}
Send-MgUserMail -UserId $Sender -BodyParameter $message
