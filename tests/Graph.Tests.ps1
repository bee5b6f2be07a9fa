#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Microsoft Graph app-role cmdlets on the built module against the emulator: every outcome is
# checked against the emulator's own state (/_emulator/assignments) and request counters
# (/_emulator/stats), never just "no error".

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    # Grants must show in the next managed-identity token: no platform token cache (Azure's 24 h).
    $script:Emulator = Start-TestEmulator -ArgumentList @('--no-platform-token-cache')
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:GraphUrl = $Emulator.BaseUrl
    $script:System = $Seed.identities | Where-Object displayName -EQ 'aa-runbooks'
    $script:Reports = $Seed.identities | Where-Object displayName -EQ 'uami-reports'
    $script:Detached = $Seed.identities | Where-Object displayName -EQ 'uami-elsewhere'
    $script:OBrien = $Seed.identities | Where-Object displayName -EQ "O'Brien-func"
    $script:Duplicates = @($Seed.identities | Where-Object displayName -EQ $Seed.duplicateName)
    $script:Graph = $Seed.resources | Where-Object alias -EQ 'Graph'
    $script:LookAlike = $Seed.resources | Where-Object { $_.displayName -eq 'Microsoft Graph' -and $_.ownerTenant -eq $Seed.foreignTenantId }
    $script:RoleId = @{}
    foreach ($role in $Graph.roles) { $RoleId[$role.value] = $role.id }

    function Get-EmulatorList {
        # Invoke-RestMethod does not enumerate a JSON array: flatten it.
        param([string] $Path, [string] $Method = 'GET', $Body)
        $parameters = @{ Path = $Path; Method = $Method }
        if ($PSBoundParameters.ContainsKey('Body')) { $parameters.Body = $Body }
        Invoke-Emulator $Emulator @parameters | ForEach-Object { $_ }
    }
    function Get-Assigned {
        # The emulator's assignments (optionally of some principals), as "principalId|permission".
        param([string[]] $PrincipalId)
        $names = @{}
        foreach ($role in $Graph.roles) { $names[$role.id] = $role.value }
        foreach ($a in @(Get-EmulatorList '/_emulator/assignments')) {
            if ($PrincipalId -and $PrincipalId -notcontains $a.principalId) { continue }
            $permission = $names[$a.appRoleId]
            if (-not $permission) { $permission = $a.appRoleId }
            "$($a.principalId)|$permission"
        }
    }
    function Get-Writes { (Get-EmulatorStats $Emulator).requests.graphWrites }
    function New-TestIdentity {
        param([string] $Prefix, [int] $Count = 1)
        @(Get-EmulatorList '/_emulator/servicePrincipals' -Method POST -Body @{ count = $Count; prefix = $Prefix })
    }
    function Connect-System { Connect-Identity -Identity -GraphEndpoint $GraphUrl }

    Set-IdentityEnvironment $Emulator 'IMDS'
    $script:SystemContext = Connect-System
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Get-GraphAppRole' {
    BeforeAll { Connect-System | Out-Null }

    It 'lists the grantable roles of Microsoft Graph, User-only roles left out' {
        $roles = @(Get-GraphAppRole)
        $roles.Count | Should -Be (@($Graph.roles | Where-Object application).Count)
        $roles[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.AppRole'
        $roles.Value | Should -Not -Contain 'Tasks.ReadWrite.Shared'
        $send = $roles | Where-Object Value -EQ 'Mail.Send'
        $send.Id | Should -Be $RoleId['Mail.Send']
        $send.ResourceAppId | Should -Be $Graph.appId
        $send.AllowedMemberTypes | Should -Contain 'Application'
    }

    It 'filters with a wildcard: -Name Mail.*' {
        $roles = @(Get-GraphAppRole -Name 'Mail.*')
        @($roles.Value | Sort-Object) | Should -Be @('Mail.Read', 'Mail.ReadWrite', 'Mail.Send')
        $roles.Resource | Select-Object -Unique | Should -Be 'Microsoft Graph'
    }

    It 'lists another API by alias' {
        (Get-GraphAppRole -Resource Exchange).Value | Should -Contain 'Exchange.ManageAsApp'
    }

    It 'refuses the look-alike "Microsoft Graph" by <By>' -ForEach @(
        @{ By = 'appId'; Property = 'appId' }
        @{ By = 'object id'; Property = 'objectId' }
    ) {
        $err = $null
        try { Get-GraphAppRole -Resource $LookAlike.$Property } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.UntrustedResource,ManagedIdentity.Interop.Commands.GetGraphAppRoleCommand'
        $err.CategoryInfo.Category | Should -Be 'SecurityError'
        $err.Exception.Message | Should -Match ([regex]::Escape($Seed.foreignTenantId))
    }
}

Describe 'Grant, re-grant, revoke, re-revoke' {
    BeforeAll {
        Connect-System | Out-Null
        $script:Target = $Detached.objectId
    }

    It 'grants: one Granted result per permission, and the assignments exist' {
        $before = Get-Writes
        $results = @(Grant-GraphAppRole -Identity $Target -Permission Mail.Send, Group.Read.All)
        $results.Count | Should -Be 2
        $results | ForEach-Object { $_.PSObject.TypeNames | Should -Contain 'ManagedIdentity.AppRoleGrantResult' }
        @($results.Status | Select-Object -Unique) | Should -Be @('Granted')
        @($results.IdentityId | Select-Object -Unique) | Should -Be @($Target)
        $results | Where-Object { -not $_.AssignmentId } | Should -BeNullOrEmpty
        @(Get-Assigned $Target | Sort-Object) | Should -Be @("$Target|Group.Read.All", "$Target|Mail.Send")
        $ids = @(Get-EmulatorList "/_emulator/assignments?principalId=$Target").id
        @($results.AssignmentId | Sort-Object) | Should -Be @($ids | Sort-Object)
        (Get-Writes) - $before | Should -Be 2
    }

    It 're-grant reports AlreadyGranted and makes no write request' {
        $before = Get-Writes
        $results = @(Grant-GraphAppRole -Identity $Target -Permission Mail.Send, Group.Read.All)
        @($results.Status | Select-Object -Unique) | Should -Be @('AlreadyGranted')
        (Get-Writes) | Should -Be $before
        @(Get-Assigned $Target).Count | Should -Be 2
    }

    It '-WhatIf outputs WouldGrant and makes zero write requests' {
        $before = Get-Writes
        $results = @(Grant-GraphAppRole -Identity $Target -Permission Mail.Send, User.Read.All -WhatIf)
        ($results | Where-Object Permission -EQ 'User.Read.All').Status | Should -Be 'WouldGrant'
        ($results | Where-Object Permission -EQ 'Mail.Send').Status | Should -Be 'AlreadyGranted'
        (Get-Writes) | Should -Be $before
        Get-Assigned $Target | Should -Not -Contain "$Target|User.Read.All"
    }

    It 'revoke -WhatIf outputs WouldRevoke and makes zero write requests' {
        $before = Get-Writes
        $result = Revoke-GraphAppRole -Identity $Target -Permission Mail.Send -WhatIf
        $result.Status | Should -Be 'WouldRevoke'
        (Get-Writes) | Should -Be $before
        Get-Assigned $Target | Should -Contain "$Target|Mail.Send"
    }

    It 'revokes: Revoked, and the assignments are gone' {
        $before = Get-Writes
        $results = @(Revoke-GraphAppRole -Identity $Target -Permission Mail.Send, Group.Read.All -Confirm:$false)
        @($results.Status | Select-Object -Unique) | Should -Be @('Revoked')
        Get-Assigned $Target | Should -BeNullOrEmpty
        (Get-Writes) - $before | Should -Be 2
    }

    It 're-revoke reports NotAssigned and makes no write request' {
        $before = Get-Writes
        $results = @(Revoke-GraphAppRole -Identity $Target -Permission Mail.Send, Group.Read.All -Confirm:$false)
        @($results.Status | Select-Object -Unique) | Should -Be @('NotAssigned')
        (Get-Writes) | Should -Be $before
    }
}

Describe 'Identity lookups are exact and injection-proof' {
    BeforeAll { Connect-System | Out-Null }

    It 'an ambiguous display name fails, listing both candidates, and grants nothing' {
        $before = Get-Writes
        $errors = $null
        $result = Grant-GraphAppRole -Identity $Seed.duplicateName -Permission Mail.Send -ErrorVariable errors -ErrorAction SilentlyContinue
        $result.Status | Should -Be 'Failed'
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.AmbiguousName,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        foreach ($candidate in $Duplicates) { $errors[0].Exception.Message | Should -Match $candidate.objectId }
        Get-Assigned $Duplicates.objectId | Should -BeNullOrEmpty
        (Get-Writes) | Should -Be $before
    }

    It "resolves O'Brien-func exactly by its display name" {
        $result = Grant-GraphAppRole -Identity "O'Brien-func" -Permission Calendars.Read
        $result.Status | Should -Be 'Granted'
        $result.IdentityId | Should -Be $OBrien.objectId
        $result.IdentityName | Should -Be "O'Brien-func"
        Get-Assigned $OBrien.objectId | Should -Be "$($OBrien.objectId)|Calendars.Read"
    }

    It 'a crafted name fails NotFound and nothing is granted to anyone' {
        $before = @(Get-Assigned)
        $writes = Get-Writes
        $errors = $null
        $result = Grant-GraphAppRole -Identity "x' or startswith(displayName,'a" -Permission Mail.Send -ErrorVariable errors -ErrorAction SilentlyContinue
        $result.Status | Should -Be 'Failed'
        $result.IdentityId | Should -BeNullOrEmpty
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        @(Get-Assigned).Count | Should -Be $before.Count
        (Get-Writes) | Should -Be $writes
    }

    It 'resolves the same identity by <Kind>' -ForEach @(
        @{ Kind = 'client id'; Property = 'clientId' }
        @{ Kind = 'ARM resource id'; Property = 'resourceId' }
    ) {
        $result = Grant-GraphAppRole -Identity $Reports.$Property -Permission User.Read.All -WhatIf
        $result.IdentityId | Should -Be $Reports.objectId
        $result.Status | Should -Be 'AlreadyGranted'
    }
}

Describe 'Input-set problems stop the command before any write' {
    BeforeAll {
        Connect-System | Out-Null
        $script:Target = $Detached.objectId
    }

    It 'an unknown permission fails UnknownPermission suggesting Mail.Send; the valid one is not granted either' {
        $writes = Get-Writes
        $err = $null
        try { Grant-GraphAppRole -Identity $Target -Permission Mail.Read, Mail.Sned } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.UnknownPermission,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match 'Mail\.Sned'
        $err.Exception.Message | Should -Match "Did you mean 'Mail\.Send'"
        Get-Assigned $Target | Should -BeNullOrEmpty
        (Get-Writes) | Should -Be $writes
    }

    It 'a User-only role is refused (PermissionNotGrantable)' {
        $writes = Get-Writes
        { Grant-GraphAppRole -Identity $Target -Permission Tasks.ReadWrite.Shared } |
            Should -Throw -ErrorId 'ManagedIdentity.PermissionNotGrantable,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        (Get-Writes) | Should -Be $writes
    }

    It 'the look-alike resource is refused (UntrustedResource) by appId' {
        $writes = Get-Writes
        $err = $null
        try { Grant-GraphAppRole -Identity $Target -Permission Mail.Send -Resource $LookAlike.appId } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.UntrustedResource,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        $err.Exception.Message | Should -Match ([regex]::Escape($LookAlike.appId))
        Get-Assigned $Target | Should -BeNullOrEmpty
        (Get-Writes) | Should -Be $writes
        @(Get-EmulatorList "/_emulator/assignments?resourceId=$($LookAlike.objectId)").Count | Should -Be 0
    }

    It 'the name "Microsoft Graph" means the real Microsoft Graph, never the look-alike' {
        $result = Grant-GraphAppRole -Identity $Target -Permission Mail.Send -Resource 'Microsoft Graph' -WhatIf
        $result.ResourceAppId | Should -Be $Graph.appId
        $result.ResourceId | Should -Be $Graph.objectId
    }

    It 'without a context it fails NotConnected' {
        Disconnect-Identity -Confirm:$false
        try {
            { Grant-GraphAppRole -Identity $Target -Permission Mail.Send } | Should -Throw -ErrorId 'ManagedIdentity.NotConnected,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        }
        finally { Connect-System | Out-Null }
    }
}

Describe 'Set-GraphAppRole' {
    BeforeAll {
        Connect-System | Out-Null
        $script:SetTarget = (New-TestIdentity -Prefix 'settest')[0].id
        $null = Grant-GraphAppRole -Identity $SetTarget -Permission Mail.Read, Sites.Read.All
    }

    It '-WhatIf shows the plan and makes zero writes' {
        $writes = Get-Writes
        $plan = @(Set-GraphAppRole -Identity $SetTarget -Permission Sites.Read.All, Reports.Read.All -WhatIf)
        ($plan | Where-Object Permission -EQ 'Sites.Read.All').Status | Should -Be 'AlreadyGranted'
        ($plan | Where-Object Permission -EQ 'Reports.Read.All').Status | Should -Be 'WouldGrant'
        ($plan | Where-Object Permission -EQ 'Mail.Read').Status | Should -Be 'WouldRevoke'
        $plan.Count | Should -Be 3
        (Get-Writes) | Should -Be $writes
        @(Get-Assigned $SetTarget | Sort-Object) | Should -Be @("$SetTarget|Mail.Read", "$SetTarget|Sites.Read.All")
    }

    It 'grants what is missing and revokes what is extra' {
        $results = @(Set-GraphAppRole -Identity $SetTarget -Permission Sites.Read.All, Reports.Read.All -Confirm:$false)
        ($results | Where-Object Permission -EQ 'Reports.Read.All').Status | Should -Be 'Granted'
        ($results | Where-Object Permission -EQ 'Mail.Read').Status | Should -Be 'Revoked'
        ($results | Where-Object Permission -EQ 'Sites.Read.All').Status | Should -Be 'AlreadyGranted'
        @(Get-Assigned $SetTarget | Sort-Object) | Should -Be @("$SetTarget|Reports.Read.All", "$SetTarget|Sites.Read.All")
    }

    It 'is idempotent' {
        $writes = Get-Writes
        $results = @(Set-GraphAppRole -Identity $SetTarget -Permission Sites.Read.All, Reports.Read.All -Confirm:$false)
        @($results.Status | Select-Object -Unique) | Should -Be @('AlreadyGranted')
        (Get-Writes) | Should -Be $writes
    }

    It 'an empty set removes every role on the resource' {
        $results = @(Set-GraphAppRole -Identity $SetTarget -Permission @() -Confirm:$false)
        @($results.Status | Select-Object -Unique) | Should -Be @('Revoked')
        Get-Assigned $SetTarget | Should -BeNullOrEmpty
    }
}

Describe 'Pipeline input' {
    BeforeAll {
        Connect-System | Out-Null
        $script:PipeIds = @((New-TestIdentity -Prefix 'pipe' -Count 6).id)
    }

    It 'by value: many identity strings, one result per (identity, permission)' {
        $results = @($PipeIds | Grant-GraphAppRole -Permission Mail.Read, Sites.Read.All)
        $results.Count | Should -Be 12
        @($results | ForEach-Object { "$($_.IdentityId)|$($_.Permission)" } | Select-Object -Unique).Count | Should -Be 12
        @($results.Status | Select-Object -Unique) | Should -Be @('Granted')
        @(Get-Assigned $PipeIds).Count | Should -Be 12
    }

    It 'by property name: objects with IdentityId and their own Permission' {
        $objects = @(
            [pscustomobject]@{ IdentityId = $PipeIds[0]; Permission = 'Reports.Read.All' }
            [pscustomobject]@{ IdentityId = $PipeIds[1]; Permission = 'Reports.Read.All' }
            [pscustomobject]@{ IdentityId = $PipeIds[2]; Permission = 'Calendars.Read' }
            [pscustomobject]@{ IdentityId = $PipeIds[2]; Permission = 'Files.Read.All' }
            [pscustomobject]@{ PrincipalId = $PipeIds[3]; Permission = 'Calendars.Read'; Resource = 'Graph' }
        )
        $results = @($objects | Grant-GraphAppRole)
        @($results | ForEach-Object { "$($_.IdentityId)|$($_.Permission)" } | Sort-Object) | Should -Be @(
            "$($PipeIds[0])|Reports.Read.All", "$($PipeIds[1])|Reports.Read.All", "$($PipeIds[2])|Calendars.Read",
            "$($PipeIds[2])|Files.Read.All", "$($PipeIds[3])|Calendars.Read" | Sort-Object)
        @($results.Status | Select-Object -Unique) | Should -Be @('Granted')
        @(Get-Assigned $PipeIds).Count | Should -Be 17
    }

    It 'objects with an Id (Graph service principals) bind to -Identity' {
        $sp = Invoke-GraphApiRequest -Uri "/v1.0/servicePrincipals/$($PipeIds[4])"
        $result = $sp | Grant-GraphAppRole -Permission Group.Read.All
        $result.IdentityId | Should -Be $PipeIds[4]
        $result.Status | Should -Be 'Granted'
    }

    It 'refuses <Shape> on -Identity before any write' -ForEach @(
        @{ Shape = 'an app role from Get-GraphAppRole'; Make = { Get-GraphAppRole -Name Mail.Send } }
        @{ Shape = 'an object with only Id and DisplayName'; Make = { [pscustomobject]@{ Id = $PipeIds[5]; DisplayName = 'pipe' } } }
        @{ Shape = 'a hashtable'; Make = { @{ IdentityId = $PipeIds[5] } } }
    ) {
        $writes = Get-Writes
        $before = @(Get-Assigned $PipeIds[5])
        # A valid identity first: the refusal must stop the whole pipeline, not just skip one record.
        $inputs = @($PipeIds[5]) + @(& $Make)
        foreach ($command in 'Grant-GraphAppRole', 'Set-GraphAppRole', 'Revoke-GraphAppRole') {
            $err = $null
            try { $null = $inputs | & $command -Permission Mail.Send -Confirm:$false } catch { $err = $_ }
            ($err.FullyQualifiedErrorId -split ',')[0] | Should -Be 'ManagedIdentity.InvalidIdentityInput'
            $err.InvocationInfo.MyCommand.Name | Should -Be $command
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        }
        { $inputs | Get-GraphAppRoleAssignment } | Should -Throw -ErrorId 'ManagedIdentity.InvalidIdentityInput,ManagedIdentity.Interop.Commands.GetGraphAppRoleAssignmentCommand'
        (Get-Writes) | Should -Be $writes
        @(Get-Assigned $PipeIds[5]) | Should -Be $before
    }

    It 'takes the principal of Az-style identity objects (PrincipalId) and of this module''s context' {
        $azIdentity = [pscustomobject]@{ Name = 'uami-x'; Id = '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-x'; PrincipalId = [guid]$PipeIds[5]; ClientId = [guid]::NewGuid() }
        $result = $azIdentity | Grant-GraphAppRole -Permission Group.Read.All
        $result.IdentityId | Should -Be $PipeIds[5]
        $result.Status | Should -Be 'Granted'
        (Revoke-GraphAppRole -Identity $azIdentity -Permission Group.Read.All -Confirm:$false).Status | Should -Be 'Revoked'
        $rows = @(Get-IdentityContext | Get-GraphAppRoleAssignment)
        @($rows.IdentityId | Select-Object -Unique) | Should -Be @($System.objectId)
    }

    It 'Get-GraphAppRoleAssignment | Revoke-GraphAppRole revokes exactly what was listed' {
        $listed = @(Get-GraphAppRoleAssignment -Identity $PipeIds)
        $listed.Count | Should -Be 18
        $results = @($listed | Revoke-GraphAppRole -Confirm:$false)
        $results.Count | Should -Be 18
        @($results.Status | Select-Object -Unique) | Should -Be @('Revoked')
        Get-Assigned $PipeIds | Should -BeNullOrEmpty
    }

    It '-WhatIf previews the whole pipeline in one engine run with zero writes' {
        $writes = Get-Writes
        $output = @($PipeIds | Grant-GraphAppRole -Permission Mail.Send -WhatIf -Verbose 4>&1)
        $results = @($output | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })
        $runs = @($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'WhatIf: no change was made' })
        $runs.Count | Should -Be 1
        $results.Count | Should -Be 6
        @($results.Status | Select-Object -Unique) | Should -Be @('WouldGrant')
        (Get-Writes) | Should -Be $writes
    }
}

Describe 'Get-GraphAppRoleAssignment' {
    BeforeAll { Connect-System | Out-Null }

    It 'shows names resolved, matching the emulator state' {
        $rows = @(Get-GraphAppRoleAssignment -Identity 'uami-reports')
        $rows[0].PSObject.TypeNames | Should -Contain 'ManagedIdentity.AppRoleAssignment'
        @($rows.Permission | Sort-Object) | Should -Be @($Reports.graphRoles | Sort-Object)
        @($rows.IdentityName | Select-Object -Unique) | Should -Be @('uami-reports')
        @($rows.IdentityId | Select-Object -Unique) | Should -Be @($Reports.objectId)
        @($rows.Resource | Select-Object -Unique) | Should -Be @('Microsoft Graph')
        $emulatorIds = @(Get-EmulatorList "/_emulator/assignments?principalId=$($Reports.objectId)").id
        @($rows.AssignmentId | Sort-Object) | Should -Be @($emulatorIds | Sort-Object)
    }

    It 'filters by -Resource' {
        @(Get-GraphAppRoleAssignment -Identity $Reports.objectId -Resource Exchange).Count | Should -Be 0
        @(Get-GraphAppRoleAssignment -Identity $Reports.objectId -Resource Graph).Count | Should -Be $Reports.graphRoles.Count
    }

    It 'reports an unknown identity as a non-terminating NotFound and lists the others' {
        $errors = $null
        $rows = @(Get-GraphAppRoleAssignment -Identity 'no-such-identity', $Reports.objectId -ErrorVariable errors -ErrorAction SilentlyContinue)
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.GetGraphAppRoleAssignmentCommand'
        @($rows | Where-Object IdentityId -EQ $Reports.objectId).Count | Should -Be $Reports.graphRoles.Count
    }
}

Describe 'Invoke-GraphApiRequest' {
    BeforeAll { Connect-System | Out-Null }

    It 'follows @odata.nextLink across pages with -All: every service principal exactly once' {
        $expected = @((Invoke-GraphApiRequest -Uri '/v1.0/servicePrincipals?$top=999').value.id)
        $expected.Count | Should -BeGreaterThan 6
        Set-EmulatorConfig $Emulator @{ pageSize = 2 }
        try {
            Reset-EmulatorStats $Emulator
            $all = @(Invoke-GraphApiRequest -Uri '/v1.0/servicePrincipals' -All)
            $pages = @((Get-EmulatorStats $Emulator).log | Where-Object { $_.target -eq 'graph' -and $_.path -eq '/v1.0/servicePrincipals' })
        }
        finally { Set-EmulatorConfig $Emulator @{ pageSize = $null } }
        $pages.Count | Should -BeGreaterOrEqual 3
        $pages.Count | Should -Be ([math]::Ceiling($expected.Count / 2))
        $all.Count | Should -Be $expected.Count
        @($all.id | Select-Object -Unique).Count | Should -Be $expected.Count
        @($all.id | Sort-Object) | Should -Be @($expected | Sort-Object)
    }

    It 'POSTs a hashtable body as JSON and DELETEs; -WhatIf sends nothing' {
        $target = $Detached.objectId
        $body = @{ principalId = $target; resourceId = $Graph.objectId; appRoleId = $RoleId['Directory.Read.All'] }
        $writes = Get-Writes
        $null = Invoke-GraphApiRequest -Method POST -Uri "/v1.0/servicePrincipals/$($Graph.objectId)/appRoleAssignedTo" -Body $body -WhatIf
        (Get-Writes) | Should -Be $writes
        $created = Invoke-GraphApiRequest -Method POST -Uri "/v1.0/servicePrincipals/$($Graph.objectId)/appRoleAssignedTo" -Body $body -Confirm:$false
        $created.appRoleId | Should -Be $RoleId['Directory.Read.All']
        Get-Assigned $target | Should -Contain "$target|Directory.Read.All"
        $null = Invoke-GraphApiRequest -Method DELETE -Uri "/v1.0/servicePrincipals/$($Graph.objectId)/appRoleAssignedTo/$($created.id)" -Confirm:$false
        Get-Assigned $target | Should -Not -Contain "$target|Directory.Read.All"
    }

    It 'turns a 404 into ManagedIdentity.NotFound' {
        { Invoke-GraphApiRequest -Uri '/v1.0/servicePrincipals/00000000-0000-4000-8000-000000000000' } |
            Should -Throw -ErrorId 'ManagedIdentity.NotFound,ManagedIdentity.Interop.Commands.InvokeGraphApiRequestCommand'
    }
}

Describe 'Tab completion of -Permission' {
    It 'completes Mail. to the Mail roles when connected' {
        Connect-System | Out-Null
        $line = 'Grant-GraphAppRole -Identity x -Permission Mail.'
        $texts = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
        $texts | Should -Contain 'Mail.Send'
        $texts | Should -Contain 'Mail.Read'
        $texts | Where-Object { $_ -notlike 'Mail.*' } | Should -BeNullOrEmpty
    }

    It 'uses the bound -Resource' {
        $line = 'Revoke-GraphAppRole -Identity x -Resource Exchange -Permission Ex'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Be @('Exchange.ManageAsApp')
    }

    It 'completes Get-GraphAppRole -Name' {
        $line = 'Get-GraphAppRole -Name AuditL'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Be @('AuditLog.Read.All')
    }

    It 'looks the names up once per context and resource, then completes from its cache' {
        Connect-System | Out-Null   # a new context: nothing cached for it
        Reset-EmulatorStats $Emulator
        $line = 'Grant-GraphAppRole -Identity x -Permission Mail.'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Contain 'Mail.Send'
        $lookups = (Get-EmulatorStats $Emulator).requests.graph
        $lookups | Should -BeGreaterThan 0 -Because 'the first completion asks Graph'
        $line = 'Grant-GraphAppRole -Identity x -Permission AuditL'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Be @('AuditLog.Read.All')
        (Get-EmulatorStats $Emulator).requests.graph | Should -Be $lookups -Because 'a second prefix on the same resource is answered from the cache'
    }

    It 'offers nothing, and no error, when Graph does not answer within its bound ([PermissionCompleter]::TimeoutMilliseconds)' {
        Connect-System | Out-Null
        Add-EmulatorFault $Emulator @{ target = 'graph'; kind = 'hang'; count = 3; hangMs = 60000 }
        try {
            $errorsBefore = $Error.Count
            $line = 'Grant-GraphAppRole -Identity x -Permission Mail.'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $offered = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object ResultType -EQ 'ParameterValue')
            $watch.Stop()
            $offered.Count | Should -Be 0
            $Error.Count | Should -Be $errorsBefore
            # Not a speed assertion: the server hangs for 60 s, so returning well before proves the bound cut it.
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 30
            [ManagedIdentity.Interop.Commands.PermissionCompleter]::TimeoutMilliseconds | Should -BeLessOrEqual 5000
        }
        finally { Clear-EmulatorFaults $Emulator }
        # A failed lookup is not cached: once Graph answers, completion works.
        $line = 'Grant-GraphAppRole -Identity x -Permission Mail.'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText) | Should -Contain 'Mail.Send'
    }

    It 'returns nothing, and no error, when not connected' {
        Disconnect-Identity -Confirm:$false
        try {
            $errorsBefore = $Error.Count
            $line = 'Grant-GraphAppRole -Identity x -Permission Mail.'
            $texts = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object ResultType -EQ 'ParameterValue')
            $texts.Count | Should -Be 0
            $Error.Count | Should -Be $errorsBefore
        }
        finally { Connect-System | Out-Null }
    }
}

Describe 'Tab completion of -Resource' {
    It 'offers the well-known resources of <Command> -Resource' -ForEach @(@{ Command = 'Get-IdentityToken' }, @{ Command = 'Connect-Identity -Identity' }) {
        $line = "$Command -Resource "
        $texts = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
        foreach ($resource in 'https://graph.microsoft.com', 'https://management.azure.com', 'https://vault.azure.net', 'https://storage.azure.com', 'https://database.windows.net') {
            $texts | Should -Contain $resource
        }
    }

    It 'matches by host or service name: <Word>' -ForEach @(
        @{ Word = 'https://vau'; Expected = 'https://vault.azure.net' }
        @{ Word = 'vault'; Expected = 'https://vault.azure.net' }
        @{ Word = 'Key'; Expected = 'https://vault.azure.net' }
        @{ Word = 'manage'; Expected = 'https://management.azure.com' }
    ) {
        $line = "Get-IdentityToken -Resource $Word"
        $texts = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText)
        $texts | Should -Contain $Expected
    }

    It 'offers the resources of the bound -Environment' {
        $completer = [ManagedIdentity.Interop.Commands.ResourceCompleter]::new()
        $bound = @{ Environment = 'USGov' }
        $texts = @($completer.CompleteArgument('Connect-Identity', 'Resource', '', $null, $bound) | ForEach-Object CompletionText)
        $texts | Should -Contain 'https://graph.microsoft.us'
        $texts | Should -Contain 'https://management.usgovcloudapi.net'
        $texts | Should -Not -Contain 'https://graph.microsoft.com'
        $texts = @($completer.CompleteArgument('Connect-Identity', 'Resource', 'Microsoft', $null, @{ Environment = 'AzureChinaCloud' }) | ForEach-Object CompletionText)
        $texts | Should -Be @('https://microsoftgraph.chinacloudapi.cn')
    }
}

Describe 'README scenario: grant a managed identity its Graph permissions, then prove them in its token' {
    It 'grants Mail.Send, AuditLog.Read.All and Application.Read.All to uami-reports' {
        Connect-System | Out-Null
        $wanted = 'Mail.Send', 'AuditLog.Read.All', 'Application.Read.All'
        $results = @(Grant-GraphAppRole -Identity 'uami-reports' -Permission $wanted)
        ($results | Where-Object Permission -EQ 'AuditLog.Read.All').Status | Should -Be 'AlreadyGranted'
        ($results | Where-Object Permission -EQ 'Mail.Send').Status | Should -Be 'Granted'
        ($results | Where-Object Permission -EQ 'Application.Read.All').Status | Should -Be 'Granted'
        foreach ($permission in $wanted) { Get-Assigned $Reports.objectId | Should -Contain "$($Reports.objectId)|$permission" }

        Connect-Identity -Identity -ClientId $Reports.clientId -GraphEndpoint $GraphUrl | Out-Null
        $null = Get-IdentityToken -ForceRefresh
        $context = Get-IdentityContext
        $context.ObjectId | Should -Be $Reports.objectId
        foreach ($permission in $wanted) { $context.Roles | Should -Contain $permission }
    }
}

Describe 'Missing permissions of the caller (403 Authorization_RequestDenied)' {
    It 'names AppRoleAssignment.ReadWrite.All when uami-reports (read-only) tries to grant' {
        $reportsContext = Connect-Identity -Identity -ClientId $Reports.clientId -GraphEndpoint $GraphUrl
        $null = Get-IdentityToken -ForceRefresh
        $reportsContext.Roles | Should -Not -Contain 'AppRoleAssignment.ReadWrite.All'
        $before = @(Get-Assigned)
        $itemErrors = $null
        $errors = @()
        try {
            $results = @(Grant-GraphAppRole -Identity $Detached.objectId -Permission Mail.Send -ErrorVariable itemErrors -ErrorAction SilentlyContinue)
            $errors = @($itemErrors)
        }
        catch { $errors = @($_) }
        $errors.Count | Should -BeGreaterThan 0
        $errors[0].FullyQualifiedErrorId | Should -Be 'ManagedIdentity.PermissionDenied,ManagedIdentity.Interop.Commands.GrantGraphAppRoleCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $errors[0].Exception.Message | Should -Match 'AppRoleAssignment\.ReadWrite\.All'
        $errors[0].Exception.Message | Should -Match 'Authorization_RequestDenied'
        if ($results) { @($results.Status | Select-Object -Unique) | Should -Be @('Failed') }
        @(Get-Assigned).Count | Should -Be $before.Count
    }

    It 'an explicit -Context still works while another context is current' {
        (Get-IdentityContext).ObjectId | Should -Be $Reports.objectId
        $result = Grant-GraphAppRole -Identity $Detached.objectId -Permission Mail.Send -Context $SystemContext
        $result.Status | Should -Be 'Granted'
        Get-Assigned $Detached.objectId | Should -Contain "$($Detached.objectId)|Mail.Send"
        $null = Revoke-GraphAppRole -Identity $Detached.objectId -Permission Mail.Send -Context $SystemContext -Confirm:$false
    }
}
