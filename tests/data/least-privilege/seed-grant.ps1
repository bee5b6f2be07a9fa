# The tutorial's grant script: gives the managed identity MI-AA-MgPowerShell1 the Microsoft Graph
# app roles its runbook needs, signed in as an administrator with Microsoft Graph PowerShell.
Connect-MgGraph -Scopes 'Application.Read.All', 'AppRoleAssignment.ReadWrite.All'

$managedIdentityId = 'b1c0a9f8-7e6d-4c5b-a493-8271605f4e3d'
$graphAppId = '00000003-0000-0000-c000-000000000000'
$permissions = 'Mail.Send', 'AuditLog.Read.All', 'Application.Read.All'

$graph = Get-MgServicePrincipal -Filter "appId eq '$graphAppId'"

foreach ($permission in $permissions) {
    $appRole = $graph.AppRoles | Where-Object { $_.Value -eq $permission -and $_.AllowedMemberTypes -contains 'Application' }
    $body = @{
        principalId = $managedIdentityId
        resourceId  = $graph.Id
        appRoleId   = $appRole.Id
    }
    New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $managedIdentityId -BodyParameter $body
}

Disconnect-MgGraph
