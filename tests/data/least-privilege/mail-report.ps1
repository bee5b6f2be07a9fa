# Weekly mailbox usage report, mailed to the messaging team. Runs in Azure Automation with the
# account's user-assigned identity and this module.
param(
    [string] $ClientId = '6b2d1e4f-9c8e-4f3b-8d7a-2e4c6f8b0d02',
    [string] $From = 'reports@contoso.com',
    [string[]] $To = @('messaging@contoso.com')
)

Import-Module ManagedIdentity
Connect-Identity -Identity -ClientId $ClientId | Out-Null

# Usage of every mailbox over the last seven days (CSV from the reports API).
$csv = Invoke-GraphApiRequest -Uri "/v1.0/reports/getMailboxUsageDetail(period='D7')"
$rows = $csv | ConvertFrom-Csv
$full = @($rows | Where-Object { [double]$_.'Storage Used (Byte)' -gt 0.9 * [double]$_.'Prohibit Send/Receive Quota (Byte)' })

# The owners' names for the mail (basic profile: display name and mail).
$lines = foreach ($row in $full) {
    $user = Invoke-GraphApiRequest -Uri "/v1.0/users/$($row.'User Principal Name')?`$select=displayName,mail"
    '{0} <{1}>: {2:N1} GB' -f $user.displayName, $user.mail, ([double]$row.'Storage Used (Byte)' / 1GB)
}

$mail = @{
    message = @{
        subject      = "Mailboxes near their quota: $($full.Count)"
        body         = @{ contentType = 'Text'; content = ($lines -join "`n") }
        toRecipients = @($To | ForEach-Object { @{ emailAddress = @{ address = $_ } } })
    }
}
Invoke-GraphApiRequest -Method POST -Uri "/v1.0/users/$From/sendMail" -Body $mail
