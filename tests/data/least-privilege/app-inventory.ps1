# Application inventory: every app registration with its owners and secret/certificate expiry,
# every enterprise app with the application permissions granted to it, written to an Excel
# workbook on OneDrive. Uses Microsoft Graph PowerShell's Invoke-MgGraphRequest.
param(
    [string] $WorkbookId = '01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K'
)

Connect-MgGraph -Identity -NoWelcome

$apps = @()
$request = @{
    Method = 'GET'
    Uri    = 'https://graph.microsoft.com/v1.0/applications?$select=id,appId,displayName,passwordCredentials,keyCredentials&$top=999'
}
$page = Invoke-MgGraphRequest @request
$apps += $page.value

$inventory = foreach ($app in $apps) {
    $owners = Invoke-MgGraphRequest -Method GET -Uri "v1.0/applications/$($app.id)/owners?`$select=userPrincipalName"
    $expiry = @($app.passwordCredentials.endDateTime) + @($app.keyCredentials.endDateTime) | Sort-Object | Select-Object -First 1
    [pscustomobject]@{ App = $app.displayName; AppId = $app.appId; Owners = $owners.value.userPrincipalName -join ';'; Expires = $expiry }
}

$sps = Invoke-MgGraphRequest GET "/v1.0/servicePrincipals?`$filter=servicePrincipalType eq 'Application'&`$top=999"
foreach ($sp in $sps.value) {
    $granted = Invoke-MgGraphRequest -Uri "/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments"
    Write-Output ('{0}: {1} application permission(s)' -f $sp.displayName, @($granted.value).Count)
}

# Write the inventory into the workbook's table.
$rows = @{ values = @($inventory | ForEach-Object { , @($_.App, $_.AppId, $_.Owners, [string]$_.Expires) }) }
Invoke-MgGraphRequest -Method POST -Uri "/v1.0/me/drive/items/$WorkbookId/workbook/tables/Inventory/rows/add" -Body $rows
