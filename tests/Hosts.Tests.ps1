#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 12: every managed-identity host on the built module against the emulator: Azure Arc (with
# its key-file challenge), Cloud Shell, Azure ML / legacy App Service MSI and Service Fabric
# (HTTPS pinned by IDENTITY_SERVER_THUMBPRINT); the Arc key-file attacks and a wrong Service Fabric
# thumbprint refused before anything is sent; detection with set-but-empty variables; secrecy.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:System = $Seed.identities | Where-Object displayName -EQ 'aa-runbooks'
    $script:Reports = $Seed.identities | Where-Object displayName -EQ 'uami-reports'
    $script:Detached = $Seed.identities | Where-Object displayName -EQ 'uami-elsewhere'
    $script:GraphUrl = $Emulator.BaseUrl
    $script:WrongThumbprint = '00112233445566778899AABBCCDDEEFF00112233'
}

AfterAll {
    Clear-HostEnvironment
    Stop-TestEmulator $Emulator
}

Describe 'A token from <HostName>' -ForEach @(
    @{ HostName = 'Arc'; Target = 'arc' }
    @{ HostName = 'CloudShell'; Target = 'cloudShell' }
    @{ HostName = 'MachineLearning'; Target = 'machineLearning' }
    @{ HostName = 'ServiceFabric'; Target = 'serviceFabric' }
) {
    BeforeAll { $null = Set-HostEnvironment $Emulator $HostName }

    It 'connects the system-assigned identity and gets a token for another resource' {
        $context = Connect-Identity -Identity -GraphEndpoint $GraphUrl
        $context.Source | Should -Be $HostName
        $context.IdentityType | Should -Be 'SystemAssigned'
        $context.ObjectId | Should -Be $System.objectId
        $context.Roles | Should -Contain 'AppRoleAssignment.ReadWrite.All'
        Reset-EmulatorStats $Emulator
        Get-IdentityToken -Resource 'https://vault.azure.net/.default' -ForceRefresh | Should -BeOfType [securestring]
        (Get-EmulatorStats $Emulator).requests.$Target | Should -BeGreaterThan 0
    }

    It 'Test-IdentityEndpoint selects it and finds it available' {
        $rows = @(Test-IdentityEndpoint -TimeoutSec 5)
        ($rows | Where-Object Selected).Source | Should -Be $HostName
        $row = $rows | Where-Object Source -EQ $HostName
        $row.Detected | Should -BeTrue
        $row.Available | Should -BeTrue
        $row.Reason | Should -Match 'this source is used'
    }
}

Describe 'User-assigned identities on the hosts that can select them' {
    It 'Azure ML selects one by -ClientId (sent as clientid)' {
        $null = Set-HostEnvironment $Emulator 'MachineLearning'
        Reset-EmulatorStats $Emulator
        $context = Connect-Identity -Identity -ClientId $Reports.clientId -GraphEndpoint $GraphUrl
        $context.ObjectId | Should -Be $Reports.objectId
        $context.IdentityType | Should -Be 'UserAssigned'
        $log = @((Get-EmulatorStats $Emulator).log | Where-Object target -EQ 'machineLearning')
        $log[0].query.clientid | Should -Be $Reports.clientId
        $log[0].query.'api-version' | Should -Be '2017-09-01'
    }

    It 'Azure ML asks for the default identity by DEFAULT_IDENTITY_CLIENT_ID' {
        $null = Set-HostEnvironment $Emulator 'MachineLearning'
        Reset-EmulatorStats $Emulator
        $null = Get-IdentityToken -Resource 'https://storage.azure.com' -Context (Connect-Identity -Identity -GraphEndpoint $GraphUrl)
        $log = @((Get-EmulatorStats $Emulator).log | Where-Object target -EQ 'machineLearning')
        $log[-1].query.clientid | Should -Be $env:DEFAULT_IDENTITY_CLIENT_ID
    }

    It 'Azure ML reports an unattached client id as IdentityNotFound' {
        $null = Set-HostEnvironment $Emulator 'MachineLearning'
        { Connect-Identity -Identity -ClientId $Detached.clientId -GraphEndpoint $GraphUrl } | Should -Throw -ErrorId 'ManagedIdentity.IdentityNotFound,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }

    It 'Service Fabric selects one by -ObjectId (sent as principalId)' {
        $null = Set-HostEnvironment $Emulator 'ServiceFabric'
        Reset-EmulatorStats $Emulator
        $context = Connect-Identity -Identity -ObjectId $Reports.objectId -GraphEndpoint $GraphUrl
        $context.ObjectId | Should -Be $Reports.objectId
        $log = @((Get-EmulatorStats $Emulator).log | Where-Object target -EQ 'serviceFabric')
        $log[0].query.principalId | Should -Be $Reports.objectId
        $log[0].query.'api-version' | Should -Be '2019-07-01-preview'
    }

    It '<HostName> refuses -<Kind> before sending anything' -ForEach @(
        @{ HostName = 'Arc'; Kind = 'ClientId'; Property = 'clientId'; Target = 'arc' }
        @{ HostName = 'Arc'; Kind = 'ObjectId'; Property = 'objectId'; Target = 'arc' }
        @{ HostName = 'Arc'; Kind = 'ResourceId'; Property = 'resourceId'; Target = 'arc' }
        @{ HostName = 'CloudShell'; Kind = 'ClientId'; Property = 'clientId'; Target = 'cloudShell' }
        @{ HostName = 'CloudShell'; Kind = 'ObjectId'; Property = 'objectId'; Target = 'cloudShell' }
        @{ HostName = 'MachineLearning'; Kind = 'ObjectId'; Property = 'objectId'; Target = 'machineLearning' }
        @{ HostName = 'MachineLearning'; Kind = 'ResourceId'; Property = 'resourceId'; Target = 'machineLearning' }
        @{ HostName = 'ServiceFabric'; Kind = 'ClientId'; Property = 'clientId'; Target = 'serviceFabric' }
        @{ HostName = 'ServiceFabric'; Kind = 'ResourceId'; Property = 'resourceId'; Target = 'serviceFabric' }
    ) {
        $null = Set-HostEnvironment $Emulator $HostName
        Reset-EmulatorStats $Emulator
        $parameters = @{ Identity = $true; GraphEndpoint = $GraphUrl; $Kind = $Reports.$Property }
        $err = $null
        try { Connect-Identity @parameters -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.UnsupportedIdentityKind,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $err.Exception.Message | Should -Match "-$Kind"
        (Get-EmulatorStats $Emulator).requests.$Target | Should -Be 0
    }
}

Describe 'Refused before anything is sent' {
    # Its own emulator: no token of it is cached, so every refusal really reaches the endpoint.
    BeforeAll { $script:Fresh = Start-TestEmulator }
    AfterAll { Stop-TestEmulator $Fresh }

    It 'Arc: <Mode> is refused with <ErrorId>, the key file unread and no second request' -ForEach @(
        @{ Mode = 'outsideDirectory'; ErrorId = 'UnsafeKeyFile' }
        @{ Mode = 'dotDot'; ErrorId = 'UnsafeKeyFile' }
        @{ Mode = 'symlink'; ErrorId = 'UnsafeKeyFile' }
        @{ Mode = 'wrongExtension'; ErrorId = 'UnsafeKeyFile' }
        @{ Mode = 'oversize'; ErrorId = 'UnsafeKeyFile' }
        @{ Mode = 'noRealm'; ErrorId = 'InvalidResponse' }
        @{ Mode = 'noChallenge'; ErrorId = 'InvalidResponse' }
    ) {
        $null = Set-HostEnvironment $Fresh 'Arc'
        Set-EmulatorConfig $Fresh @{ arcChallenge = $Mode }
        Reset-EmulatorStats $Fresh
        $err = $null
        try { Connect-Identity -Identity -GraphEndpoint $Fresh.BaseUrl -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be "ManagedIdentity.$ErrorId,ManagedIdentity.Interop.Commands.ConnectIdentityCommand"
        if ($ErrorId -eq 'UnsafeKeyFile') {
            $err.CategoryInfo.Category | Should -Be 'SecurityError'
            $err.Exception.Message | Should -Match 'was not read'
        }
        $requests = (Get-EmulatorStats $Fresh).requests
        $requests.arc | Should -Be 1
        $requests.arcWithKey | Should -Be 0
    }

    It 'Arc: the same emulator in valid mode gives a token (the refusals above are not the setup)' {
        $null = Set-HostEnvironment $Fresh 'Arc'
        Set-EmulatorConfig $Fresh @{ arcChallenge = 'valid' }
        Reset-EmulatorStats $Fresh
        (Connect-Identity -Identity -GraphEndpoint $Fresh.BaseUrl).Source | Should -Be 'Arc'
        (Get-EmulatorStats $Fresh).requests.arcWithKey | Should -Be 1
    }

    It 'Arc: without the test-only directory variable the emulator''s key file is refused' {
        $null = Set-HostEnvironment $Fresh 'Arc'
        $env:MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY = $null
        Reset-EmulatorStats $Fresh
        { Connect-Identity -Identity -GraphEndpoint $Fresh.BaseUrl -Resource 'https://storage.azure.com' } | Should -Throw -ErrorId 'ManagedIdentity.UnsafeKeyFile,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        (Get-EmulatorStats $Fresh).requests.arcWithKey | Should -Be 0
    }

    It 'Service Fabric: a wrong thumbprint ends the TLS handshake; the endpoint sees no request' {
        $null = Set-HostEnvironment $Fresh 'ServiceFabric'
        $env:IDENTITY_SERVER_THUMBPRINT = $WrongThumbprint
        Reset-EmulatorStats $Fresh
        $err = $null
        try { Connect-Identity -Identity -GraphEndpoint $Fresh.BaseUrl -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'ManagedIdentity.CertificateMismatch,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $err.CategoryInfo.Category | Should -Be 'SecurityError'
        $row = @(Test-IdentityEndpoint -TimeoutSec 5) | Where-Object Source -EQ 'ServiceFabric'
        $row.Available | Should -BeFalse
        $row.Reason | Should -Match 'does not match IDENTITY_SERVER_THUMBPRINT'
        (Get-EmulatorStats $Fresh).requests.serviceFabric | Should -Be 0
    }

    It 'Service Fabric: a malformed thumbprint is an invalid argument' {
        $null = Set-HostEnvironment $Fresh 'ServiceFabric'
        $env:IDENTITY_SERVER_THUMBPRINT = 'not-a-thumbprint'
        { Connect-Identity -Identity -GraphEndpoint $Fresh.BaseUrl } | Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }
}

Describe 'Detection with set-but-empty variables' {
    It 'an empty IDENTITY_SERVER_THUMBPRINT is not Service Fabric' {
        $null = Set-HostEnvironment $Emulator 'ServiceFabric'
        $env:IDENTITY_SERVER_THUMBPRINT = ''
        [Environment]::GetEnvironmentVariable('IDENTITY_SERVER_THUMBPRINT') | Should -Be ''
        $rows = @(Test-IdentityEndpoint)
        $sf = $rows | Where-Object Source -EQ 'ServiceFabric'
        $sf.Detected | Should -BeFalse
        $sf.Reason | Should -Be 'IDENTITY_ENDPOINT and IDENTITY_HEADER are set but IDENTITY_SERVER_THUMBPRINT is not'
        ($rows | Where-Object Selected).Source | Should -Be 'AppService'
    }

    It 'an empty MSI_SECRET means Cloud Shell, not Azure ML' {
        $null = Set-HostEnvironment $Emulator 'CloudShell'
        $env:MSI_SECRET = ''
        $rows = @(Test-IdentityEndpoint)
        ($rows | Where-Object Source -EQ 'MachineLearning').Reason | Should -Be 'MSI_ENDPOINT is set but MSI_SECRET is not'
        (Connect-Identity -Identity -GraphEndpoint $GraphUrl).Source | Should -Be 'CloudShell'
    }

    It 'an empty IMDS_ENDPOINT is not Arc' {
        $null = Set-HostEnvironment $Emulator 'Arc'
        $env:IMDS_ENDPOINT = ''
        $arc = @(Test-IdentityEndpoint) | Where-Object Source -EQ 'Arc'
        $arc.Detected | Should -BeFalse
        $arc.Reason | Should -Match '^IDENTITY_ENDPOINT is set but IMDS_ENDPOINT is not and the Azure Connected Machine agent'
    }

    It 'every variable empty leaves only the IMDS fallback' {
        Clear-HostEnvironment
        foreach ($name in 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET', 'DEFAULT_IDENTITY_CLIENT_ID', 'MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY') {
            [Environment]::SetEnvironmentVariable($name, '')
        }
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emulator.BaseUrl
        $rows = @(Test-IdentityEndpoint)
        @($rows | Where-Object Detected).Source | Should -Be @('IMDS')
        ($rows | Where-Object Selected).Source | Should -Be 'IMDS'
        ($rows | Where-Object Source -EQ 'CloudShell').Reason | Should -Be 'MSI_ENDPOINT is not set'
    }
}

Describe 'No key, secret or token in any stream on <HostName>' -ForEach @(
    @{ HostName = 'Arc' }
    @{ HostName = 'CloudShell' }
    @{ HostName = 'MachineLearning' }
    @{ HostName = 'ServiceFabric' }
) {
    It 'with -Verbose -Debug, errors included' {
        $null = Set-HostEnvironment $Emulator $HostName
        $output = & {
            Connect-Identity -Identity -GraphEndpoint $GraphUrl -Verbose -Debug
            Get-IdentityContext -Verbose -Debug
            Get-IdentityToken -ForceRefresh -Verbose -Debug | Out-Null
            Test-IdentityEndpoint -Verbose -Debug
            try { Connect-Identity -Identity -ClientId $Detached.clientId -GraphEndpoint $GraphUrl -Verbose -Debug } catch { $_ }
            if ($HostName -eq 'Arc') {
                Set-EmulatorConfig $Emulator @{ arcChallenge = 'outsideDirectory' }
                try { Get-IdentityToken -ForceRefresh -Verbose -Debug } catch { $_ }
                Set-EmulatorConfig $Emulator @{ arcChallenge = 'valid' }
            }
            if ($HostName -eq 'ServiceFabric') {
                $env:IDENTITY_SERVER_THUMBPRINT = $WrongThumbprint
                try { Connect-Identity -Identity -GraphEndpoint $GraphUrl -Resource 'https://storage.azure.com' -Verbose -Debug } catch { $_ }
            }
        } *>&1 | Out-String -Width 4096
        $null = Set-HostEnvironment $Emulator $HostName
        $token = Get-IdentityToken -AsPlainText -Context (Connect-Identity -Identity -GraphEndpoint $GraphUrl)
        $output | Should -Not -BeNullOrEmpty
        $output | Should -Not -Match ([regex]::Escape($token))
        $output | Should -Not -Match ([regex]::Escape($Emulator.IdentityHeader))
        $output | Should -Not -Match 'eyJ[A-Za-z0-9_-]{10,}\.'
        # Arc keys are 64 hex characters (the emulator's and the agent's).
        $output | Should -Not -Match '[0-9a-fA-F]{64}'
    }
}
