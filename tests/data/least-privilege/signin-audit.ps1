# Sign-in audit: risky and failed sign-ins of the last day, with each user's registered
# authentication methods, posted to a Teams channel webhook. Uses Invoke-RestMethod with a token
# from this module (as older runbooks written for Az do).
param(
    [string] $WebhookUrl = 'https://contoso.webhook.office.com/webhookb2/abc',
    [int] $Hours = 24
)

Import-Module ManagedIdentity
Connect-Identity -Identity | Out-Null
$token = Get-IdentityToken -Resource 'https://graph.microsoft.com' -AsPlainText
$headers = @{ Authorization = "Bearer $token"; ConsistencyLevel = 'eventual' }

$graph = 'https://graph.microsoft.com/v1.0'
$since = (Get-Date).ToUniversalTime().AddHours(-$Hours).ToString('o')
$uri = "$graph/auditLogs/signIns?`$filter=createdDateTime ge $since and status/errorCode ne 0&`$top=500"

$failed = @()
$page = Invoke-RestMethod -Uri $uri -Headers $headers -Method Get
$failed += $page.value
while ($page.'@odata.nextLink') {
    # The next page's URL comes from Graph at run time.
    $page = Invoke-RestMethod -Uri $page.'@odata.nextLink' -Headers $headers
    $failed += $page.value
}

$report = foreach ($userId in ($failed.userId | Sort-Object -Unique)) {
    $user = Invoke-RestMethod -Uri "$graph/users/$userId`?`$select=displayName,userPrincipalName" -Headers $headers
    $methods = Invoke-RestMethod -Uri "$graph/users/$userId/authentication/methods" -Headers $headers
    [pscustomobject]@{
        User     = $user.userPrincipalName
        Name     = $user.displayName
        Failures = @($failed | Where-Object userId -EQ $userId).Count
        Methods  = ($methods.value.'@odata.type' -replace '#microsoft.graph.', '') -join ', '
    }
}

$card = @{ text = ($report | Format-Table | Out-String) } | ConvertTo-Json
Invoke-RestMethod -Uri $WebhookUrl -Method Post -Body $card -ContentType 'application/json'
