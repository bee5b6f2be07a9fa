# One .NET conformance case (tests/Clients.Tests.ps1 runs it in a fresh pwsh with the host's
# environment): Microsoft's Azure.Identity (with MSAL.NET underneath), loaded from -AssemblyPath,
# unmodified, against mi-emulator. Prints one line, "OK <case>: ..." or "FAIL <case>: ...";
# exit code 0 on success. The access token itself is never printed (only its appid claim).
param(
    [Parameter(Mandatory)] [string] $AssemblyPath,
    [Parameter(Mandatory)] [string] $Case,
    [Parameter(Mandatory)] [string] $ContextFile
)
$ErrorActionPreference = 'Stop'
try {
    foreach ($name in 'System.ClientModel', 'Azure.Core', 'Microsoft.Identity.Client', 'Microsoft.IdentityModel.Abstractions', 'Azure.Identity') {
        [void][Reflection.Assembly]::LoadFrom([IO.Path]::Combine($AssemblyPath, "$name.dll"))
    }
    $context = Get-Content -Raw -LiteralPath $ContextFile | ConvertFrom-Json
    $userAssigned = $context.userAssigned
    $expected = $userAssigned.clientId
    $scope = 'https://vault.azure.net/.default'
    switch ($Case) {
        'dotnet-mi-appservice-system' {
            $credential = [Azure.Identity.ManagedIdentityCredential]::new([Azure.Identity.ManagedIdentityId]::SystemAssigned)
            $expected = $context.system.clientId
        }
        'dotnet-mi-automation-clientid' {
            $credential = [Azure.Identity.ManagedIdentityCredential]::new([Azure.Identity.ManagedIdentityId]::FromUserAssignedClientId($userAssigned.clientId))
        }
        'dotnet-mi-imds-resourceid' {
            $id = [Azure.Core.ResourceIdentifier]::new($userAssigned.resourceId)
            $credential = [Azure.Identity.ManagedIdentityCredential]::new([Azure.Identity.ManagedIdentityId]::FromUserAssignedResourceId($id))
        }
        'dotnet-secret' {
            # The emulator's self-signed certificate is trusted by pinning it in the transport
            # (what a user does instead of adding it to the machine's store).
            Add-Type -TypeDefinition @'
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
public static class EmulatorCertificatePin {
    public static string Thumbprint;
    public static bool Check(HttpRequestMessage m, X509Certificate2 c, X509Chain ch, SslPolicyErrors e) {
        return c != null && string.Equals(c.Thumbprint, Thumbprint, System.StringComparison.OrdinalIgnoreCase);
    }
}
'@
            $pem = Get-Content -Raw -LiteralPath $context.ca
            $der = [Convert]::FromBase64String(($pem -replace '-----[A-Z ]+-----', '' -replace '\s', ''))
            [EmulatorCertificatePin]::Thumbprint = [Security.Cryptography.X509Certificates.X509Certificate2]::new($der).Thumbprint
            $handler = [System.Net.Http.HttpClientHandler]::new()
            $handler.ServerCertificateCustomValidationCallback = [Delegate]::CreateDelegate(
                [Func[System.Net.Http.HttpRequestMessage, System.Security.Cryptography.X509Certificates.X509Certificate2, System.Security.Cryptography.X509Certificates.X509Chain, System.Net.Security.SslPolicyErrors, bool]],
                [EmulatorCertificatePin].GetMethod('Check'))
            $options = [Azure.Identity.ClientSecretCredentialOptions]::new()
            $options.AuthorityHost = [Uri] $context.https
            $options.DisableInstanceDiscovery = $true
            $options.Transport = [Azure.Core.Pipeline.HttpClientTransport]::new($handler)
            $credential = [Azure.Identity.ClientSecretCredential]::new($context.tenant, $context.app.appId, $context.clientSecret, $options)
            $expected = $context.app.appId
            $scope = 'https://graph.microsoft.com/.default'
        }
        default { throw "unknown case '$Case'" }
    }
    $request = [Azure.Core.TokenRequestContext]::new([string[]]@($scope))
    $source = [Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds(60))
    $token = $credential.GetToken($request, $source.Token).Token
    $payload = $token.Split('.')[1].Replace('-', '+').Replace('_', '/')
    $payload += '=' * ((4 - $payload.Length % 4) % 4)
    $claims = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($payload)) | ConvertFrom-Json
    if ($claims.appid -ne $expected) { throw "token for $($claims.appid), expected $expected" }
    "OK ${Case}: token for $($claims.appid) ($($claims.aud))"
    exit 0
}
catch {
    $e = $_.Exception
    while ($e.InnerException -and $e -is [Management.Automation.MethodInvocationException]) { $e = $e.InnerException }
    $first = ("$($e.Message)" -split "`r?`n")[0]
    "FAIL ${Case}: $($e.GetType().Name): $first"
    exit 1
}
