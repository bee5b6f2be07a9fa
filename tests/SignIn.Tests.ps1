#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.5.0' }
# Issue 10 on the built module against the emulator: every way of signing in (client secret,
# certificate, workload identity / environment variables, device code, browser, Azure CLI), each
# with a token, its Roles or Scopes, its error cases and no secret in any stream; an http
# authority off loopback refused before any request; and the admin story (delegated sign-in, then
# Grant-GraphAppRole of the tutorial's three permissions to a managed identity).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $script:Emulator = Start-TestEmulator
    $script:Seed = Get-EmulatorSeed $Emulator
    $script:Tenant = $Seed.tenantId
    $script:Base = $Emulator.BaseUrl
    $script:ClientSecretValue = 'emulator-client-secret'
    $script:TestData = Join-Path (Split-Path $PSScriptRoot -Parent) 'rust/core/src/credentials/testdata'
    $script:Work = Join-Path ([IO.Path]::GetTempPath()) "mi-signin-$([guid]::NewGuid().ToString('N'))"
    $null = New-Item -ItemType Directory -Path $Work
    Clear-IdentityEnvironment
    foreach ($name in 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD') {
        [Environment]::SetEnvironmentVariable($name, $null)
    }

    function script:New-PipelineApp {
        # An application of the emulated tenant holding Graph's Application.Read.All.
        $created = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/servicePrincipals' -Body @{ count = 1; prefix = 'pipeline'; type = 'Application' }
        $graph = $Seed.resources | Where-Object alias -EQ 'Graph'
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/assignments' -Body @{ principalId = $created[0].id; resourceId = $graph.objectId; appRoleValue = 'Application.Read.All' }
        $created[0]
    }

    function script:New-FederatedApp([string] $Issuer, [string] $Subject) {
        # A pipeline application with a federated credential for one issuer and subject.
        $app = New-PipelineApp
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/federatedCredentials' -Body @{ clientId = $app.appId; issuer = $Issuer; subject = $Subject }
        $app
    }

    function script:ConvertTo-Base64Url([string] $Text) {
        [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($Text)).TrimEnd('=').Replace('+', '-').Replace('/', '_')
    }

    function script:New-FederatedToken([string] $Issuer, [string] $Subject, [long] $Expires) {
        # A CI system's token (the emulator does not check the external issuer's signature).
        $header = ConvertTo-Base64Url '{"alg":"RS256","typ":"JWT"}'
        $payload = ConvertTo-Base64Url (@{ iss = $Issuer; sub = $Subject; aud = 'api://AzureADTokenExchange'; exp = $Expires } | ConvertTo-Json -Compress)
        "$header.$payload.c2lnbmF0dXJl"
    }

    function script:Get-AllStreams([scriptblock] $Script) {
        # Every stream's text (and the error's full record) of one command, -Verbose -Debug on.
        $text = & {
            try { & $Script *>&1 | Out-String -Width 400 }
            catch { $_ | Out-String -Width 400; $_.Exception.ToString(); $_.ErrorDetails | Out-String }
        }
        $text -join "`n"
    }

    function script:Start-DeviceUser([string] $Outcome) {
        # The user at the other device: approves or denies the pending code once it exists.
        Start-ThreadJob -ArgumentList $Base, $Outcome -ScriptBlock {
            param($base, $outcome)
            for ($i = 0; $i -lt 200; $i++) {
                try {
                    $null = Invoke-RestMethod -Method POST -Uri "$base/_emulator/deviceCode" -Body (@{ outcome = $outcome } | ConvertTo-Json) -ContentType 'application/json' -TimeoutSec 10
                    return 'done'
                }
                catch { Start-Sleep -Milliseconds 100 }
            }
            'no pending code'
        }
    }

    Set-EmulatorConfig $Emulator @{ deviceCodeIntervalSecs = 1 }
}

AfterAll {
    Disconnect-Identity -ErrorAction SilentlyContinue
    Clear-IdentityEnvironment
    foreach ($name in 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD') {
        [Environment]::SetEnvironmentVariable($name, $null)
    }
    Stop-TestEmulator $Emulator
    Remove-Item -Recurse -Force $Work -ErrorAction SilentlyContinue
}

Describe 'Connect-Identity with a client secret' {
    BeforeAll {
        $script:App = New-PipelineApp
        $script:Secret = ConvertTo-SecureString $ClientSecretValue -AsPlainText -Force
    }

    It 'gets an app-only token and shows its Roles' {
        $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -ClientSecret $Secret -AuthorityHost $Base -GraphEndpoint $Base
        $context.AuthType | Should -Be 'ClientSecret'
        $context.PrincipalType | Should -Be 'AppOnly'
        $context.Roles | Should -Be @('Application.Read.All')
        $context.Scopes | Should -BeNullOrEmpty
        $context.ClientId | Should -Be $App.appId
        $context.TenantId | Should -Be $Tenant
        $context.Environment | Should -Be 'Global'
        (Get-IdentityToken -AsPlainText).Split('.').Count | Should -Be 3
        # Any resource, from the same credential (what ARM uses).
        (Get-IdentityToken -Resource 'https://management.azure.com/' -AsPlainText) | Should -Not -BeNullOrEmpty
    }

    It 'takes the secret from a PSCredential' {
        $credential = [pscredential]::new($App.appId, $Secret)
        $context = Connect-Identity -TenantId $Tenant -Credential $credential -AuthorityHost $Base -GraphEndpoint $Base
        $context.ClientId | Should -Be $App.appId
        $context.Roles | Should -Contain 'Application.Read.All'
    }

    It 'explains a wrong secret with AADSTS7000215 and a hint, never showing the secret' {
        $wrong = 'wrong-secret-5f0c1d9e'
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -ClientSecret (ConvertTo-SecureString $wrong -AsPlainText -Force) -AuthorityHost $Base -GraphEndpoint $Base -Verbose -Debug -ErrorAction Stop }
        $text | Should -Match 'AADSTS7000215'
        $text | Should -Match 'Hint:'
        $text | Should -Not -Match $wrong
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -ClientSecret (ConvertTo-SecureString $wrong -AsPlainText -Force) -AuthorityHost $Base -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.AuthenticationFailed,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }

    It 'shows no secret in any stream when it succeeds' {
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -ClientSecret $Secret -AuthorityHost $Base -GraphEndpoint $Base -Verbose -Debug }
        $text | Should -Match 'ClientSecret'
        $text | Should -Not -Match $ClientSecretValue
    }

    It 'takes the national cloud from -Environment (Graph of that cloud unless -GraphEndpoint)' {
        $context = Connect-Identity -Environment USGov -TenantId $Tenant -ClientId $App.appId -ClientSecret $Secret -AuthorityHost $Base -Resource 'https://graph.microsoft.com'
        $context.Environment | Should -Be 'USGov'
        $context.GraphEndpoint | Should -Be 'https://graph.microsoft.us'
        (Get-Command Connect-Identity).Parameters['Environment'].Attributes.ValidValues | Should -Be @('Global', 'USGov', 'USGovDoD', 'China')
    }

    It 'refuses an http authority off loopback before any request' {
        Reset-EmulatorStats $Emulator
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -ClientSecret $Secret -AuthorityHost 'http://login.example.com' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        { Connect-Identity -Scopes User.Read -UseDeviceCode -TenantId $Tenant -AuthorityHost 'http://login.example.com' -ErrorAction Stop } |
            Should -Throw '*-AuthorityHost*plain http*'
        @((Get-EmulatorStats $Emulator).log).Count | Should -Be 0
    }
}

Describe 'Connect-Identity with a certificate' {
    BeforeAll {
        $script:App = New-PipelineApp
        $certPem = Get-Content -Raw (Join-Path $TestData 'cert.pem')
        $null = Invoke-Emulator $Emulator -Method POST -Path '/_emulator/certificates' -Body @{ clientId = $App.appId; certificatePem = $certPem }
        $script:PemPath = Join-Path $Work 'client.pem'
        Set-Content -Path $PemPath -Value ($certPem + (Get-Content -Raw (Join-Path $TestData 'key.pem'))) -NoNewline
        $script:PfxPath = Join-Path $TestData 'client.pfx'
        $script:PfxPasswordValue = 'test-pfx-password'
        $script:PfxPassword = ConvertTo-SecureString $PfxPasswordValue -AsPlainText -Force
        $script:OtherPath = Join-Path $Work 'other.pem'
        Set-Content -Path $OtherPath -Value ((Get-Content -Raw (Join-Path $TestData 'other-cert.pem')) + (Get-Content -Raw (Join-Path $TestData 'other-key.pem'))) -NoNewline
    }

    It 'signs in with a PEM file' {
        $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $PemPath -AuthorityHost $Base -GraphEndpoint $Base
        $context.AuthType | Should -Be 'ClientCertificate'
        $context.Roles | Should -Be @('Application.Read.All')
    }

    It 'signs in with a PFX file and its password, never showing the password' {
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $PfxPath -CertificatePassword $PfxPassword -AuthorityHost $Base -GraphEndpoint $Base -Verbose -Debug }
        $text | Should -Match 'Signing in with the certificate'
        $text | Should -Not -Match $PfxPasswordValue
        (Get-IdentityContext).AuthType | Should -Be 'ClientCertificate'
        (Get-IdentityContext).Roles | Should -Contain 'Application.Read.All'
    }

    # NotUnderWine (these two): .NET reads a PFX certificate's private key through Windows CNG
    # (ncrypt.dll), which Wine 8 implements too little: the process dies (0xC0000005 in
    # NCryptGetProperty). Only a real Windows runner tests the CNG key path and the certificate store.
    It 'signs in with an X509Certificate2 (its key exported through the secret channel)' -Tag 'NotUnderWine' {
        $flags = [Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable
        $certificate = [Security.Cryptography.X509Certificates.X509Certificate2]::new($PfxPath, $PfxPasswordValue, $flags)
        $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -Certificate $certificate -AuthorityHost $Base -GraphEndpoint $Base
        $context.AuthType | Should -Be 'ClientCertificate'
        $context.Roles | Should -Contain 'Application.Read.All'
    }

    It 'signs in with a certificate from the CurrentUser personal store by thumbprint' -Tag 'NotUnderWine' {
        $flags = [Security.Cryptography.X509Certificates.X509KeyStorageFlags]'Exportable, PersistKeySet, UserKeySet'
        $certificate = [Security.Cryptography.X509Certificates.X509Certificate2]::new($PfxPath, $PfxPasswordValue, $flags)
        $store = [Security.Cryptography.X509Certificates.X509Store]::new('My', 'CurrentUser')
        $store.Open('ReadWrite')
        try {
            $store.Add($certificate)
            $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificateThumbprint $certificate.Thumbprint -AuthorityHost $Base -GraphEndpoint $Base
            $context.AuthType | Should -Be 'ClientCertificate'
            $context.Roles | Should -Contain 'Application.Read.All'
        }
        finally {
            $store.Remove($certificate)
            $store.Close()
        }
    }

    It 'refuses a thumbprint no store holds, naming it' {
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificateThumbprint '00112233445566778899AABBCCDDEEFF00112233' -AuthorityHost $Base -ErrorAction Stop } |
            Should -Throw '*00112233445566778899AABBCCDDEEFF00112233*'
    }

    It 'refuses a certificate that is not registered (AADSTS700027)' {
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $OtherPath -AuthorityHost $Base -ErrorAction Stop } |
            Should -Throw '*AADSTS700027*'
    }

    It 'refuses a wrong PFX password without echoing it' {
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $PfxPath -CertificatePassword (ConvertTo-SecureString 'not-the-pfx-password' -AsPlainText -Force) -AuthorityHost $Base -ErrorAction Stop }
        $text | Should -Match 'wrong -CertificatePassword'
        $text | Should -Not -Match 'not-the-pfx-password'
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -CertificatePath $PfxPath -CertificatePassword (ConvertTo-SecureString 'not-the-pfx-password' -AsPlainText -Force) -AuthorityHost $Base -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
    }
}

Describe 'Connect-Identity -EnvironmentVariable (Azure.Identity variables)' {
    BeforeAll {
        $script:Issuer = 'https://token.actions.githubusercontent.com'
        $script:Subject = 'repo:contoso/pipelines:ref:refs/heads/main'
        $script:App = New-FederatedApp $Issuer $Subject
        $script:TokenFile = Join-Path $Work 'federated-token'
    }

    BeforeEach {
        Clear-IdentityEnvironment
        foreach ($name in 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD') {
            [Environment]::SetEnvironmentVariable($name, $null)
        }
        $env:AZURE_TENANT_ID = $Tenant
        $env:AZURE_CLIENT_ID = $App.appId
        $env:AZURE_AUTHORITY_HOST = $Base
    }

    AfterAll {
        Clear-IdentityEnvironment
        $env:AZURE_CLIENT_SECRET = $null
    }

    It 'signs in with workload identity federation (AZURE_FEDERATED_TOKEN_FILE)' {
        $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
        $assertion = New-FederatedToken $Issuer $Subject ($now + 600)
        Set-Content -Path $TokenFile -Value $assertion -NoNewline
        $env:AZURE_FEDERATED_TOKEN_FILE = $TokenFile
        $text = Get-AllStreams { Connect-Identity -EnvironmentVariable -GraphEndpoint $Base -Verbose -Debug }
        $text | Should -Not -Match ([regex]::Escape($assertion))
        $context = Get-IdentityContext
        $context.AuthType | Should -Be 'WorkloadIdentity'
        $context.Roles | Should -Be @('Application.Read.All')
    }

    It 'refuses an expired federated token (AADSTS700024)' {
        $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
        $expired = New-FederatedToken $Issuer $Subject ($now - 120)
        Set-Content -Path $TokenFile -Value $expired -NoNewline
        $env:AZURE_FEDERATED_TOKEN_FILE = $TokenFile
        $text = Get-AllStreams { Connect-Identity -EnvironmentVariable -GraphEndpoint $Base -ErrorAction Stop }
        $text | Should -Match 'AADSTS700024'
        $text | Should -Not -Match ([regex]::Escape($expired))
    }

    It 'signs in with AZURE_CLIENT_SECRET, which never travels in the request JSON' {
        $env:AZURE_CLIENT_SECRET = $ClientSecretValue
        try {
            $text = Get-AllStreams { Connect-Identity -EnvironmentVariable -GraphEndpoint $Base -Verbose -Debug }
            $text | Should -Not -Match $ClientSecretValue
            (Get-IdentityContext).AuthType | Should -Be 'ClientSecret'
        }
        finally { $env:AZURE_CLIENT_SECRET = $null }
    }

    It 'says which variables are missing' {
        $env:AZURE_TENANT_ID = $null
        { Connect-Identity -EnvironmentVariable -ErrorAction Stop } | Should -Throw '*AZURE_TENANT_ID*'
    }
}

Describe 'Connect-Identity -FederatedTokenFile (workload identity federation)' {
    BeforeAll {
        $script:Issuer = 'https://vstoken.dev.azure.com/00000000-1111-2222-3333-444444444444'
        $script:Subject = 'sc://contoso/pipelines/deploy'
        $script:App = New-FederatedApp $Issuer $Subject
        $script:TokenFile = Join-Path $Work 'oidc-token'
        $script:Rotations = 0
        function script:Set-TokenFile([long] $ExpiresIn) {
            # What the issuer does: writes a new token over the old one.
            $token = New-FederatedToken $Issuer $Subject ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + $ExpiresIn)
            Set-Content -Path $TokenFile -Value $token -NoNewline
            # A distinct modification time even on a coarse file system (the engine re-reads the
            # file when its time or size changes).
            $script:Rotations++
            (Get-Item $TokenFile).LastWriteTimeUtc = [DateTime]::UtcNow.AddSeconds($script:Rotations)
            $token
        }
    }

    BeforeEach {
        # Parameters alone: none of the Azure.Identity variables is set.
        Clear-IdentityEnvironment
    }

    It 'makes -TenantId and -ClientId mandatory beside it' {
        $parameters = (Get-Command Connect-Identity).Parameters
        foreach ($name in 'FederatedTokenFile', 'TenantId', 'ClientId') {
            $parameters[$name].ParameterSets['WorkloadIdentity'].IsMandatory | Should -BeTrue -Because "$name is mandatory in the WorkloadIdentity set"
        }
    }

    It 'signs in from the file alone, with the app''s Roles, and no token in any stream' {
        $assertion = Set-TokenFile 600
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile $TokenFile -AuthorityHost $Base -GraphEndpoint $Base -Verbose -Debug }
        $text | Should -Not -Match ([regex]::Escape($assertion))
        $context = Get-IdentityContext
        $context.AuthType | Should -Be 'WorkloadIdentity'
        $context.PrincipalType | Should -Be 'AppOnly'
        $context.ClientId | Should -Be $App.appId
        $context.Roles | Should -Be @('Application.Read.All')
    }

    It 'reads the file again when its issuer rotates it' {
        $null = Set-TokenFile 600
        $null = Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile $TokenFile -AuthorityHost $Base -GraphEndpoint $Base
        # The issuer writes an expired token: the next new token request sends it and is refused.
        $expired = Set-TokenFile -120
        $text = Get-AllStreams { Get-IdentityToken -Resource 'https://vault.azure.net' -ErrorAction Stop }
        $text | Should -Match 'AADSTS700024'
        $text | Should -Not -Match ([regex]::Escape($expired))
        # A fresh token in the file: the same context works again.
        $null = Set-TokenFile 900
        Get-IdentityToken -Resource 'https://vault.azure.net' -AsPlainText | Should -Not -BeNullOrEmpty
    }

    It 'resolves a relative path against the current PowerShell location' {
        $null = Set-TokenFile 600
        Push-Location $Work
        try { $context = Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile ./oidc-token -AuthorityHost $Base -GraphEndpoint $Base }
        finally { Pop-Location }
        $context.AuthType | Should -Be 'WorkloadIdentity'
    }

    It 'names a missing file and the parameter with ManagedIdentity.InvalidArgument' {
        $missing = Join-Path $Work 'no-such-token'
        { Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile $missing -AuthorityHost $Base -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.InvalidArgument,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile $missing -AuthorityHost $Base -ErrorAction Stop }
        $text | Should -Match ([regex]::Escape($missing))
        $text | Should -Match '-FederatedTokenFile'
    }

    It 'refuses a token whose subject has no federated credential (AADSTS70021)' {
        $other = New-FederatedToken $Issuer 'sc://contoso/pipelines/other' ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 600)
        $file = Join-Path $Work 'other-token'
        Set-Content -Path $file -Value $other -NoNewline
        $text = Get-AllStreams { Connect-Identity -TenantId $Tenant -ClientId $App.appId -FederatedTokenFile $file -AuthorityHost $Base -ErrorAction Stop }
        $text | Should -Match 'AADSTS70021'
        $text | Should -Not -Match ([regex]::Escape($other))
    }
}

Describe 'Connect-Identity -Identity where workload identity federation is configured (AKS)' {
    BeforeAll {
        $script:Issuer = 'https://oidc.prod-aks.azure.com/11111111-2222-3333-4444-555555555555/'
        $script:Subject = 'system:serviceaccount:runbooks:reporter'
        $script:App = New-FederatedApp $Issuer $Subject
        $script:Other = New-FederatedApp $Issuer $Subject
        $script:TokenFile = Join-Path $Work 'aks-projected-token'
        Set-Content -Path $TokenFile -Value (New-FederatedToken $Issuer $Subject ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 3600)) -NoNewline
    }

    BeforeEach {
        # What the AKS workload-identity webhook injects into the pod.
        Clear-IdentityEnvironment
        $env:AZURE_FEDERATED_TOKEN_FILE = $TokenFile
        $env:AZURE_TENANT_ID = $Tenant
        $env:AZURE_CLIENT_ID = $App.appId
        $env:AZURE_AUTHORITY_HOST = $Base
    }

    AfterAll { Clear-IdentityEnvironment }

    It 'signs in with the federated token, as Azure.Identity''s ManagedIdentityCredential does' {
        $context = Connect-Identity -Identity -GraphEndpoint $Base
        $context.AuthType | Should -Be 'WorkloadIdentity'
        $context.ClientId | Should -Be $App.appId
        $context.Roles | Should -Be @('Application.Read.All')
        $row = @(Test-IdentityEndpoint) | Where-Object Source -EQ 'WorkloadIdentity'
        $row.Selected | Should -BeTrue
        $row.Reason | Should -Match 'this source is used'
    }

    It 'is chosen before a platform endpoint that is also configured, in Azure.Identity''s (.NET) order' {
        # A pod or App Service with both: Connect-MgGraph -Identity and Connect-AzAccount -Identity
        # use the federated token, so the module must too.
        $env:IDENTITY_ENDPOINT = 'http://127.0.0.1:9/msi/token'
        $env:IDENTITY_HEADER = 'not-used'
        $rows = @(Test-IdentityEndpoint)
        $rows[0].Source | Should -Be 'WorkloadIdentity'
        ($rows | Where-Object Selected).Source | Should -Be 'WorkloadIdentity'
        ($rows | Where-Object Source -EQ 'AppService').Detected | Should -BeTrue
        $context = Connect-Identity -Identity -GraphEndpoint $Base
        $context.AuthType | Should -Be 'WorkloadIdentity'
    }

    It '-ClientId names another federated application than AZURE_CLIENT_ID' {
        $context = Connect-Identity -Identity -ClientId $Other.appId -GraphEndpoint $Base
        $context.ClientId | Should -Be $Other.appId
    }

    It 'signs in with the -ClientId it validated, not the text as typed' {
        # -Identity accepts a GUID in braces, in any case, with spaces around (the selector
        # normalises it); the federated sign-in must use that value, not the raw text.
        $typed = '  {' + $Other.appId.ToUpperInvariant() + '}  '
        $context = Connect-Identity -Identity -ClientId $typed -GraphEndpoint $Base
        $context.AuthType | Should -Be 'WorkloadIdentity'
        $context.ClientId | Should -Be $Other.appId
    }

    It 'refuses -ObjectId with ManagedIdentity.UnsupportedIdentityKind, naming -ClientId' {
        { Connect-Identity -Identity -ObjectId $App.id -GraphEndpoint $Base -ErrorAction Stop } |
            Should -Throw -ErrorId 'ManagedIdentity.UnsupportedIdentityKind,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        { Connect-Identity -Identity -ObjectId $App.id -GraphEndpoint $Base -ErrorAction Stop } |
            Should -Throw '*-ClientId*'
    }
}

Describe 'Connect-Identity -UseDeviceCode (delegated)' {
    It 'prints the sign-in message, gets a token once approved and shows Scopes and the account' {
        $user = Start-DeviceUser 'approve'
        try {
            $output = Connect-Identity -Scopes AppRoleAssignment.ReadWrite.All, Application.Read.All -UseDeviceCode -TenantId $Tenant -AuthorityHost $Base -GraphEndpoint $Base -WarningVariable warnings
            $output.AuthType | Should -Be 'DeviceCode'
            $output.PrincipalType | Should -Be 'Delegated'
            $output.Scopes | Should -Contain 'AppRoleAssignment.ReadWrite.All'
            $output.Scopes | Should -Contain 'Application.Read.All'
            $output.Roles | Should -BeNullOrEmpty
            $output.Account | Should -Be ($Seed.adminUser.userPrincipalName)
            ($warnings -join ' ') | Should -Match 'enter the code'
            # Another resource, silently through the refresh token (what ARM uses).
            Get-IdentityToken -Resource 'https://management.azure.com/' -AsPlainText | Should -Not -BeNullOrEmpty
        }
        finally { $user | Wait-Job -Timeout 30 | Remove-Job -Force }
    }

    It 'stops a pending device-code sign-in on Ctrl+C (StopProcessing)' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$(Get-TestModulePath)'; Connect-Identity -Scopes User.Read -UseDeviceCode -TenantId '$Tenant' -AuthorityHost '$Base' -GraphEndpoint '$Base'")
            $handle = $ps.BeginInvoke()
            for ($i = 0; $i -lt 300 -and $ps.Streams.Warning.Count -eq 0; $i++) { Start-Sleep -Milliseconds 100 }
            $ps.Streams.Warning[0].Message | Should -Match 'enter the code'
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $handle.IsCompleted | Should -BeTrue
        }
        finally { $ps.Dispose() }
    }

    It 'reports a denied device code' {
        $user = Start-DeviceUser 'deny'
        try {
            { Connect-Identity -Scopes User.Read -UseDeviceCode -TenantId $Tenant -AuthorityHost $Base -GraphEndpoint $Base -ErrorAction Stop -WarningAction SilentlyContinue } |
                Should -Throw -ErrorId 'ManagedIdentity.AuthenticationFailed,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        }
        finally { $user | Wait-Job -Timeout 30 | Remove-Job -Force }
    }
}

Describe 'The admin story: a delegated sign-in, then Grant-GraphAppRole' {
    It 'grants Mail.Send, AuditLog.Read.All and Application.Read.All to a managed identity' {
        $target = $Seed.identities | Where-Object displayName -EQ 'uami-empty'
        $user = Start-DeviceUser 'approve'
        try {
            $null = Connect-Identity -Scopes AppRoleAssignment.ReadWrite.All, Application.Read.All -UseDeviceCode -TenantId $Tenant -AuthorityHost $Base -GraphEndpoint $Base -WarningAction SilentlyContinue
        }
        finally { $user | Wait-Job -Timeout 30 | Remove-Job -Force }
        $results = Grant-GraphAppRole -Identity $target.objectId -Permission Mail.Send, AuditLog.Read.All, Application.Read.All -Confirm:$false
        @($results).Count | Should -Be 3
        $held = Get-GraphAppRoleAssignment -Identity $target.objectId -Resource Graph
        $held.Permission | Should -Contain 'Mail.Send'
        $held.Permission | Should -Contain 'AuditLog.Read.All'
        $held.Permission | Should -Contain 'Application.Read.All'
    }
}

Describe 'Connect-Identity -UseAzureCli' {
    BeforeAll {
        $script:CliDir = Join-Path $Work 'cli'
        $null = New-Item -ItemType Directory -Path $CliDir
        $payload = ConvertTo-Base64Url (@{ aud = 'https://graph.microsoft.com'; appid = 'cli-app'; tid = $Tenant; scp = 'User.Read Application.Read.All'; upn = 'admin@contoso.example'; exp = [DateTimeOffset]::UtcNow.AddHours(1).ToUnixTimeSeconds() } | ConvertTo-Json -Compress)
        $script:CliToken = "$(ConvertTo-Base64Url '{"alg":"none"}').$payload.c2ln"
        $expires = [DateTimeOffset]::UtcNow.AddHours(1)
        $json = @{ accessToken = $CliToken; expiresOn = $expires.LocalDateTime.ToString('yyyy-MM-dd HH:mm:ss.ffffff'); expires_on = $expires.ToUnixTimeSeconds(); tenant = $Tenant; tokenType = 'Bearer' } | ConvertTo-Json -Compress
        if (Test-OnWindows) {
            Set-Content -Path (Join-Path $CliDir 'az.cmd') -Value "@echo off`r`necho $json"
        }
        else {
            $script = Join-Path $CliDir 'az'
            Set-Content -Path $script -Value "#!/bin/sh`ncat <<'JSON'`n$json`nJSON`n" -NoNewline
            chmod +x $script
        }
        $script:SavedPath = $env:PATH
    }

    AfterEach { $env:PATH = $SavedPath }

    It 'borrows the signed-in account''s token from a stand-in az on PATH' {
        $env:PATH = $CliDir + [IO.Path]::PathSeparator + $SavedPath
        $context = Connect-Identity -UseAzureCli -GraphEndpoint $Base
        $context.AuthType | Should -Be 'AzureCli'
        $context.PrincipalType | Should -Be 'Delegated'
        $context.Scopes | Should -Contain 'Application.Read.All'
        $context.Account | Should -Be 'admin@contoso.example'
        Get-IdentityToken -AsPlainText | Should -Be $CliToken
    }

    It 'says az is missing when PATH has none' {
        $env:PATH = $Work
        { Connect-Identity -UseAzureCli -GraphEndpoint $Base -ErrorAction Stop } | Should -Throw "*'az') was not found on PATH*"
    }
}

Describe 'Browser sign-in and the secret channel (engine test hooks, fresh process)' {
    BeforeAll {
        $script:ModulePath = Get-TestModulePath
    }

    It 'signs in through the browser flow (scripted browser) and shows Scopes' {
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        $env:MANAGEDIDENTITY_TEST_ONLY_BROWSER = 'follow'
        try {
            $lines = Invoke-FreshPwsh @"
Import-Module '$ModulePath'
`$c = Connect-Identity -Scopes Application.Read.All -TenantId '$Tenant' -AuthorityHost '$Base' -GraphEndpoint '$Base'
"RESULT `$(`$c.AuthType) `$(`$c.PrincipalType) `$(`$c.Scopes -join ',') `$(`$c.Account)"
"@
        }
        finally {
            Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS, Env:MANAGEDIDENTITY_TEST_ONLY_BROWSER -ErrorAction SilentlyContinue
        }
        ($lines -join "`n") | Should -Match "RESULT Browser Delegated Application.Read.All $([regex]::Escape($Seed.adminUser.userPrincipalName))"
    }

    It 'refuses a redirect whose state does not match' {
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        $env:MANAGEDIDENTITY_TEST_ONLY_BROWSER = 'wrongState'
        try {
            $lines = Invoke-FreshPwsh @"
Import-Module '$ModulePath'
try { Connect-Identity -Scopes Application.Read.All -TenantId '$Tenant' -AuthorityHost '$Base' -GraphEndpoint '$Base' -ErrorAction Stop; 'CONNECTED' }
catch { "FAILED `$(`$_.FullyQualifiedErrorId) `$(`$_.Exception.Message)" }
"@
        }
        finally {
            Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS, Env:MANAGEDIDENTITY_TEST_ONLY_BROWSER -ErrorAction SilentlyContinue
        }
        $text = $lines -join "`n"
        $text | Should -Match 'FAILED ManagedIdentity.AuthenticationFailed,ManagedIdentity.Interop.Commands.ConnectIdentityCommand'
        $text | Should -Match 'different state'
    }

    It 'sends IDENTITY_HEADER only in the secret (an engine with test hooks refuses it in JSON)' {
        Set-IdentityEnvironment $Emulator 'AppService'
        $env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS = '1'
        try {
            $lines = Invoke-FreshPwsh @"
Import-Module '$ModulePath'
`$c = Connect-Identity -Identity -GraphEndpoint '$Base'
"SOURCE `$(`$c.Source)"
`$rows = Test-IdentityEndpoint
"TESTED `$((`$rows | Where-Object Selected).Source)"
"@
        }
        finally {
            Remove-Item Env:MANAGEDIDENTITY_ENGINE_TEST_HOOKS -ErrorAction SilentlyContinue
            Clear-IdentityEnvironment
        }
        $text = $lines -join "`n"
        $text | Should -Match 'SOURCE AppService'
        $text | Should -Match 'TESTED AppService'
        $text | Should -Not -Match 'arrived in the request JSON'
    }
}
