#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Azure Resource Manager cmdlets (issue 11) on the built module against the emulator: the seed
# replay (create, grant, attach, then the runbook's token) and the error / idempotency cases,
# each checked against the emulator's own state (/_emulator/arm) and counters (/_emulator/stats).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    # Grants must show in the next managed-identity token: no platform token cache.
    $script:Emulator = Start-TestEmulator -ArgumentList @('--no-platform-token-cache')
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:Base = $Emulator.BaseUrl
    $script:Arm = 'https://management.azure.com'
    $script:GraphResource = 'https://graph.microsoft.com'
    $script:Seed3 = @('Application.Read.All', 'AuditLog.Read.All', 'Mail.Send')
    # Seeded ARM principals (rust/emulator/src/seed.rs): admin = Contributor on the subscription
    # with Graph grant rights; reader = Reader; operator = Contributor on rg-automation only.
    $script:AdminClientId = 'd1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e501'
    $script:ReaderClientId = 'd1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e502'
    $script:OperatorClientId = 'd1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e503'

    function Connect-Admin {
        # THE admin sign-in of this file. Until client-secret / delegated sign-in is merged, the
        # test gets a client-credentials token from the emulator's Entra endpoint and connects
        # with -AccessToken (one context per audience). Switch this function to
        # `Connect-Identity -ClientSecret …` / device code after merging.
        param([string] $Resource = $Arm, [string] $ClientId = $AdminClientId)
        $body = @{
            grant_type    = 'client_credentials'
            client_id     = $ClientId
            client_secret = 'emulator-client-secret'
            scope         = "$Resource/.default"
        }
        $t = Invoke-RestMethod -Method POST -Uri "$Base/$($Seed.tenantId)/oauth2/v2.0/token" -Body $body
        $token = ConvertTo-SecureString $t.access_token -AsPlainText -Force
        Connect-Identity -AccessToken $token -Resource $Resource -GraphEndpoint $Base -ResourceManagerEndpoint $Base
    }
    function Get-ArmState { Invoke-Emulator $Emulator -Path '/_emulator/arm' }
    function Get-ArmWrites { (Get-EmulatorStats $Emulator).requests.armWrites }
    function Get-RunbookRoles {
        # As the runbook: the emulator's Automation endpoint; ClientId empty = system-assigned.
        param([string] $ClientId)
        Set-IdentityEnvironment $Emulator 'Automation'
        try {
            if ($ClientId) { $ctx = Connect-Identity -Identity -ClientId $ClientId -GraphEndpoint $Base }
            else { $ctx = Connect-Identity -Identity -GraphEndpoint $Base }
            @($ctx.Roles | Sort-Object)
            # Drop the engine's cached token so the next call sees new grants.
            Disconnect-Identity -Context $ctx
        }
        finally { Clear-IdentityEnvironment }
    }

    function Invoke-SeedReplay {
        # The seed's steps: create the identity, grant it the three roles, attach it to the
        # Automation account; the runbook then gets exactly those roles.
        param([string] $Name, [string] $Location, $ArmContext, $GraphContext)
        $mi = New-UserAssignedIdentity -Name $Name -ResourceGroupName 'rg-automation' -Location $Location -Context $ArmContext
        $mi.Status | Should -Be 'Created'
        $grants = @($mi | Grant-GraphAppRole -Permission Mail.Send, AuditLog.Read.All, Application.Read.All -Context $GraphContext -Confirm:$false)
        @($grants.Status | Select-Object -Unique) | Should -Be @('Granted')
        $state = $mi | Set-AutomationAccountIdentity -AutomationAccountName 'aa-runbooks' -ResourceGroupName 'rg-automation' -Context $ArmContext -Confirm:$false
        $state.UserAssigned.ClientId | Should -Contain $mi.ClientId
        Get-RunbookRoles -ClientId $mi.ClientId | Should -Be $Seed3
        [pscustomobject]@{ Identity = $mi; State = $state }
    }

    $script:ArmCtx = Connect-Admin $Arm
    $script:GraphCtx = Connect-Admin $GraphResource
}

AfterAll {
    Clear-IdentityEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'Seed replay' {
    It 'creates MI-AA-MgPowerShell1, grants the three roles, attaches it; the runbook gets exactly those roles' {
        $replay = Invoke-SeedReplay -Name 'MI-AA-MgPowerShell1' -Location 'UK South' -ArmContext $ArmCtx -GraphContext $GraphCtx
        $replay.Identity.Location | Should -Be 'uksouth'
        $replay.Identity.PSObject.TypeNames | Should -Contain 'ManagedIdentity.UserAssignedIdentity'
        $replay.State.Status | Should -Be 'Updated'
        $replay.State.SystemAssigned | Should -BeTrue
    }

    It 'does the same for the system-assigned identity after -SystemAssigned $true' {
        $off = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -SystemAssigned $false -Force -Confirm:$false -Context $ArmCtx -WarningAction SilentlyContinue
        $off.SystemAssigned | Should -BeFalse
        $on = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -SystemAssigned $true -Confirm:$false -Context $ArmCtx
        $on.SystemAssigned | Should -BeTrue
        $on.PrincipalId | Should -Not -Be ($Seed.identities | Where-Object displayName -EQ 'aa-runbooks').objectId
        @($on.UserAssigned).Count | Should -Be @($off.UserAssigned).Count -Because 'identities not named are kept'
        Get-RunbookRoles | Should -BeNullOrEmpty -Because 'a new principal holds no roles' -WarningAction SilentlyContinue
        $null = Grant-GraphAppRole -Identity $on.PrincipalId -Permission $Seed3 -Context $GraphCtx -Confirm:$false
        Get-RunbookRoles | Should -Be $Seed3
    }
}

Describe 'User-assigned identities' {
    It 'is idempotent: a re-create is Existing with the same principal' {
        $a = New-UserAssignedIdentity -Name 'mi-idem' -ResourceGroupName 'rg-identity' -Location uksouth -Context $ArmCtx
        $b = New-UserAssignedIdentity -Name 'mi-idem' -ResourceGroupName 'rg-identity' -Location 'UK South' -Context $ArmCtx
        $a.Status | Should -Be 'Created'
        $b.Status | Should -Be 'Existing'
        $b.PrincipalId | Should -Be $a.PrincipalId
        @((Get-ArmState).identities | Where-Object name -EQ 'mi-idem').Count | Should -Be 1
    }

    It 'refuses another location, an invalid name and a missing resource group' {
        { New-UserAssignedIdentity -Name 'uami-reports' -ResourceGroupName 'rg-identity' -Location westeurope -Context $ArmCtx } |
            Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument*' -ExpectedMessage '*InvalidResourceLocation*'
        { New-UserAssignedIdentity -Name 'x' -ResourceGroupName 'rg-identity' -Location uksouth -Context $ArmCtx } |
            Should -Throw -ExpectedMessage '*InvalidResourceName*'
        { New-UserAssignedIdentity -Name 'mi-nogroup' -ResourceGroupName 'rg-missing' -Location uksouth -Context $ArmCtx } |
            Should -Throw -ExpectedMessage '*ResourceGroupNotFound*'
    }

    It 'lists by wildcard and removes; a missing identity is NotFound, not an error' {
        $null = New-UserAssignedIdentity -Name 'mi-gone' -ResourceGroupName 'rg-identity' -Location uksouth -Context $ArmCtx
        @(Get-UserAssignedIdentity -Name 'mi-*' -Context $ArmCtx).Name | Should -Contain 'mi-gone'
        (Remove-UserAssignedIdentity -Name 'mi-gone' -ResourceGroupName 'rg-identity' -Confirm:$false -Context $ArmCtx).Status | Should -Be 'Removed'
        (Remove-UserAssignedIdentity -Name 'mi-gone' -ResourceGroupName 'rg-identity' -Confirm:$false -Context $ArmCtx).Status | Should -Be 'NotFound'
        (Get-ArmState).identities.name | Should -Not -Contain 'mi-gone'
    }

    It '-WhatIf writes nothing' {
        $before = Get-ArmWrites
        $r = New-UserAssignedIdentity -Name 'mi-whatif' -ResourceGroupName 'rg-identity' -Location uksouth -Context $ArmCtx -WhatIf
        $r.Status | Should -Be 'WouldCreate'
        $null = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -AddUserAssigned 'uami-elsewhere' -Context $ArmCtx -WhatIf
        Get-ArmWrites | Should -Be $before
        (Get-ArmState).identities.name | Should -Not -Contain 'mi-whatif'
    }

    It 'retries 429 and 5xx' {
        Add-EmulatorFault $Emulator @{ target = 'arm'; status = 429; retryAfter = '0'; count = 1 }
        Add-EmulatorFault $Emulator @{ target = 'arm'; status = 503; retryAfter = '0'; count = 1 }
        $before = (Get-EmulatorStats $Emulator).requests.arm
        (Get-UserAssignedIdentity -Name 'uami-reports' -ResourceGroupName 'rg-identity' -Context $ArmCtx).Name | Should -Be 'uami-reports'
        Clear-EmulatorFaults $Emulator
        # The subscription list (429, then 503, then answered) and the identity read.
        (Get-EmulatorStats $Emulator).requests.arm - $before | Should -Be 4
    }
}

Describe 'Automation account identities' {
    It 'removing one user-assigned identity keeps the others' {
        $before = Get-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -Context $ArmCtx
        @($before.UserAssigned).Count | Should -BeGreaterThan 1
        $after = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -RemoveUserAssigned 'uami-empty' -Context $ArmCtx -Confirm:$false
        @($after.UserAssigned).Count | Should -Be (@($before.UserAssigned).Count - 1)
        $after.UserAssigned.Name | Should -Not -Contain 'uami-empty'
        $after.UserAssigned.Name | Should -Contain 'uami-reports'
    }

    It 'an unknown identity is NotFound' {
        { Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -AddUserAssigned 'no-such-identity' -Context $ArmCtx -Confirm:$false } |
            Should -Throw -ErrorId 'ManagedIdentity.NotFound*'
    }

    It 'a reader gets 403 naming the action' {
        $reader = Connect-Admin $Arm -ClientId $ReaderClientId
        { New-UserAssignedIdentity -Name 'mi-reader' -ResourceGroupName 'rg-identity' -Location uksouth -Context $reader } |
            Should -Throw -ErrorId 'ManagedIdentity.PermissionDenied*' -ExpectedMessage '*Microsoft.ManagedIdentity/userAssignedIdentities/write*'
    }

    It 'attaching without assign/action is the linked-authorization error' {
        $operator = Connect-Admin $Arm -ClientId $OperatorClientId
        { Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -AddUserAssigned 'uami-elsewhere' -Context $operator -Confirm:$false } |
            Should -Throw -ErrorId 'ManagedIdentity.PermissionDenied*' -ExpectedMessage '*assign/action*LinkedAuthorizationFailed*'
    }
}

Describe 'A grant right after creation (directory replication lag)' {
    AfterEach { Set-EmulatorConfig $Emulator @{ replicationLagMs = 0 } }

    It 'waits for the new principal to reach Graph, with a progress record, then grants' {
        Set-EmulatorConfig $Emulator @{ replicationLagMs = 3000 }
        # A separate runspace keeps the progress records for inspection (a nested pipeline on this
        # one would not); it signs in as the admin app with its client secret.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($ModulePath, $Tenant, $ClientId, $Base, $Arm, $GraphResource)
                    Import-Module $ModulePath
                    $ProgressPreference = 'Continue'
                    $secret = ConvertTo-SecureString 'emulator-client-secret' -AsPlainText -Force
                    $common = @{ TenantId = $Tenant; ClientId = $ClientId; ClientSecret = $secret; AuthorityHost = $Base; GraphEndpoint = $Base; ResourceManagerEndpoint = $Base }
                    $armCtx = Connect-Identity @common -Resource $Arm -WarningAction SilentlyContinue
                    $graphCtx = Connect-Identity @common -Resource $GraphResource -WarningAction SilentlyContinue
                    New-UserAssignedIdentity -Name 'MI-Repl-Lag1' -ResourceGroupName 'rg-automation' -Location 'uksouth' -Context $armCtx |
                        Grant-GraphAppRole -Permission Mail.Send, AuditLog.Read.All, Application.Read.All -Context $graphCtx -Confirm:$false
                }).AddArgument((Get-TestModulePath)).AddArgument($Seed.tenantId).AddArgument($AdminClientId).AddArgument($Base).AddArgument($Arm).AddArgument($GraphResource)
            $grants = @($ps.Invoke())
            @($ps.Streams.Error) | Should -BeNullOrEmpty
            $waiting = @($ps.Streams.Progress | Where-Object StatusDescription -Like 'Waiting for the new identity*')
        }
        finally { $ps.Dispose() }
        $grants.Count | Should -Be 3
        @($grants.Status | Select-Object -Unique) | Should -Be @('Granted')
        $waiting.Count | Should -BeGreaterThan 0 -Because 'Graph did not know the principal at first'
        $waiting[0].StatusDescription | Should -Match ([regex]::Escape($grants[0].IdentityId))
    }

    It 'a system-assigned identity just turned on is waited for too' {
        $null = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -SystemAssigned $false -Force -Confirm:$false -Context $ArmCtx -WarningAction SilentlyContinue
        Set-EmulatorConfig $Emulator @{ replicationLagMs = 3000 }
        $on = Set-AutomationAccountIdentity 'aa-runbooks' -ResourceGroupName 'rg-automation' -SystemAssigned $true -Confirm:$false -Context $ArmCtx
        $on.PrincipalCreated | Should -BeTrue
        $grants = @($on | Grant-GraphAppRole -Permission Mail.Send -Context $GraphCtx -Confirm:$false)
        $grants.Count | Should -Be 1
        $grants[0].Status | Should -Be 'Granted'
        $grants[0].IdentityId | Should -Be $on.PrincipalId
    }

    It 'an unknown principal that is not new still fails at once, without waiting' {
        Set-EmulatorConfig $Emulator @{ replicationLagMs = 3000 }
        $unknown = [guid]::NewGuid().ToString()
        $r = Grant-GraphAppRole -Identity $unknown -Permission Mail.Send -Context $GraphCtx -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable errs
        @($r).Count | Should -Be 1
        $r.Status | Should -Be 'Failed'
        @($errs).Count | Should -Be 1
        $errs[0].Exception.Message | Should -Match 'No service principal has the object id'
        $errs[0].Exception.Message | Should -Not -Match 'waited'
    }
}

Describe 'Seed replay with real admin sign-ins' {
    It 'works with the admin app signed in by client secret' {
        $secret = ConvertTo-SecureString 'emulator-client-secret' -AsPlainText -Force
        $common = @{ TenantId = $Seed.tenantId; ClientId = $AdminClientId; ClientSecret = $secret; AuthorityHost = $Base; GraphEndpoint = $Base; ResourceManagerEndpoint = $Base }
        $arm = Connect-Identity @common -Resource $Arm
        $graph = Connect-Identity @common -Resource $GraphResource
        $arm.AuthType | Should -Be 'ClientSecret'
        $arm.ResourceManagerEndpoint | Should -Be $Base.TrimEnd('/') -Because 'the context names where the ARM commands go'
        (Connect-Identity @common -Resource $arm.Resource -SubscriptionId '3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d').SubscriptionId | Should -Be '3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d'
        $null = Invoke-SeedReplay -Name 'MI-AA-MgPowerShell-Secret' -Location 'uksouth' -ArmContext $arm -GraphContext $graph
    }
}

Describe 'Seed replay with a delegated admin sign-in' {
    BeforeAll {
        Set-EmulatorConfig $Emulator @{ deviceCodeIntervalSecs = 1 }
        # The emulator's delegated user (seed.rs ADMIN_USER) holds no ARM role: make it Contributor.
        $script:UserObjectId = '2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c99'
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/arm/roleAssignments' -Body @{
            principalId = $UserObjectId; role = 'Contributor'; scope = '/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d'
        }
        function script:Connect-DeviceUser([string[]] $Scopes) {
            # The user at the other device approves the pending code once it exists.
            $user = Start-ThreadJob -ArgumentList $Base -ScriptBlock {
                param($base)
                for ($i = 0; $i -lt 200; $i++) {
                    try {
                        $null = Invoke-RestMethod -Method POST -Uri "$base/_emulator/deviceCode" -Body (@{ outcome = 'approve' } | ConvertTo-Json) -ContentType 'application/json' -TimeoutSec 10
                        return 'done'
                    }
                    catch { Start-Sleep -Milliseconds 100 }
                }
                'no pending code'
            }
            try {
                Connect-Identity -Scopes $Scopes -UseDeviceCode -TenantId $Seed.tenantId -AuthorityHost $Base -GraphEndpoint $Base -ResourceManagerEndpoint $Base -WarningAction SilentlyContinue
            }
            finally { $null = $user | Wait-Job -Timeout 30; $user | Remove-Job -Force }
        }
    }
    AfterAll {
        $null = Invoke-Emulator $Emulator -Method DELETE -Path '/_emulator/arm/roleAssignments' -Body @{ principalId = $UserObjectId }
    }

    It 'creates, grants and attaches as the signed-in user' {
        $arm = Connect-DeviceUser 'https://management.azure.com/user_impersonation'
        $graph = Connect-DeviceUser 'AppRoleAssignment.ReadWrite.All', 'Application.Read.All'
        $arm.AuthType | Should -Be 'DeviceCode'
        $null = Invoke-SeedReplay -Name 'MI-AA-MgPowerShell-User' -Location 'uksouth' -ArmContext $arm -GraphContext $graph
    }
}
