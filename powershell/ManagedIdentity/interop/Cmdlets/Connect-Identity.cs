// Connect-Identity: one parameter set per way of signing in; the engine does the work.
using System;
using System.Collections;
using System.Management.Automation;
using System.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommunications.Connect, "Identity", DefaultParameterSetName = ManagedIdentitySet)]
    [OutputType(typeof(Context))]
    public sealed class ConnectIdentityCommand : EngineCmdlet
    {
        private const string ManagedIdentitySet = "ManagedIdentity";
        private const string AccessTokenSet = "AccessToken";
        // Issue 10: sign-ins (parameter set → the engine's connect method in EngineMethod).
        private const string BrowserSet = "Browser";
        private const string DeviceCodeSet = "DeviceCode";
        private const string ClientSecretSet = "ClientSecret";
        private const string CredentialSet = "Credential";
        private const string CertificatePathSet = "CertificatePath";
        private const string CertificateSet = "Certificate";
        private const string CertificateThumbprintSet = "CertificateThumbprint";
        private const string EnvironmentVariableSet = "EnvironmentVariable";
        private const string WorkloadIdentitySet = "WorkloadIdentity";
        private const string AzureCliSet = "AzureCli";

        [Parameter(Mandatory = true, ParameterSetName = ManagedIdentitySet)]
        [Alias("ManagedIdentity", "MSI")]
        public SwitchParameter Identity { get; set; }

        [Parameter(ParameterSetName = ManagedIdentitySet)]
        [Parameter(ParameterSetName = BrowserSet)]
        [Parameter(ParameterSetName = DeviceCodeSet)]
        [Parameter(Mandatory = true, ParameterSetName = ClientSecretSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificatePathSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificateSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificateThumbprintSet)]
        [Parameter(Mandatory = true, ParameterSetName = WorkloadIdentitySet)]
        [Alias("ApplicationId", "AppId")]
        [ValidateNotNullOrEmpty]
        public string ClientId { get; set; }

        [Parameter(ParameterSetName = ManagedIdentitySet)]
        [ValidateNotNullOrEmpty]
        public string ObjectId { get; set; }

        [Parameter(ParameterSetName = ManagedIdentitySet)]
        [ValidateNotNullOrEmpty]
        public string ResourceId { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = AccessTokenSet)]
        public SecureString AccessToken { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ResourceCompleter))]
        public string Resource { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string GraphEndpoint { get; set; }

        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; }

        // ----- Issue 10: sign-ins -----

        [Parameter(Mandatory = true, ParameterSetName = BrowserSet)]
        [Parameter(ParameterSetName = DeviceCodeSet)]
        [ValidateNotNullOrEmpty]
        public string[] Scopes { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = DeviceCodeSet)]
        [Alias("DeviceCode", "DeviceAuth", "Device")]
        public SwitchParameter UseDeviceCode { get; set; }

        [Parameter(ParameterSetName = BrowserSet)]
        [Parameter(ParameterSetName = DeviceCodeSet)]
        [Parameter(Mandatory = true, ParameterSetName = ClientSecretSet)]
        [Parameter(Mandatory = true, ParameterSetName = CredentialSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificatePathSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificateSet)]
        [Parameter(Mandatory = true, ParameterSetName = CertificateThumbprintSet)]
        [Parameter(Mandatory = true, ParameterSetName = WorkloadIdentitySet)]
        [Parameter(ParameterSetName = AzureCliSet)]
        [Alias("Tenant")]
        [ValidateNotNullOrEmpty]
        public string TenantId { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = ClientSecretSet)]
        public SecureString ClientSecret { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = CredentialSet)]
        [Alias("ClientSecretCredential")]
        public PSCredential Credential { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = CertificatePathSet)]
        [ValidateNotNullOrEmpty]
        public string CertificatePath { get; set; }

        [Parameter(ParameterSetName = CertificatePathSet)]
        public SecureString CertificatePassword { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = CertificateSet)]
        public X509Certificate2 Certificate { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = CertificateThumbprintSet)]
        [ValidateNotNullOrEmpty]
        public string CertificateThumbprint { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = EnvironmentVariableSet)]
        public SwitchParameter EnvironmentVariable { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = AzureCliSet)]
        public SwitchParameter UseAzureCli { get; set; }

        // Workload identity federation with the token file named here (GitHub Actions, Azure DevOps
        // or any OIDC issuer that writes one), read again at every token request: the issuer
        // rotates it. -EnvironmentVariable covers the same sign-in from AZURE_FEDERATED_TOKEN_FILE.
        [Parameter(Mandatory = true, ParameterSetName = WorkloadIdentitySet)]
        [ValidateNotNullOrEmpty]
        public string FederatedTokenFile { get; set; }

        [Parameter(ParameterSetName = BrowserSet)]
        [Parameter(ParameterSetName = DeviceCodeSet)]
        [Parameter(ParameterSetName = ClientSecretSet)]
        [Parameter(ParameterSetName = CredentialSet)]
        [Parameter(ParameterSetName = CertificatePathSet)]
        [Parameter(ParameterSetName = CertificateSet)]
        [Parameter(ParameterSetName = CertificateThumbprintSet)]
        [Parameter(ParameterSetName = EnvironmentVariableSet)]
        [Parameter(ParameterSetName = WorkloadIdentitySet)]
        [Parameter(ParameterSetName = AzureCliSet)]
        [ValidateSet("Global", "USGov", "USGovDoD", "China", IgnoreCase = true)]
        public string Environment { get; set; }

        [Parameter(ParameterSetName = BrowserSet)]
        [Parameter(ParameterSetName = DeviceCodeSet)]
        [Parameter(ParameterSetName = ClientSecretSet)]
        [Parameter(ParameterSetName = CredentialSet)]
        [Parameter(ParameterSetName = CertificatePathSet)]
        [Parameter(ParameterSetName = CertificateSet)]
        [Parameter(ParameterSetName = CertificateThumbprintSet)]
        [Parameter(ParameterSetName = EnvironmentVariableSet)]
        [Parameter(ParameterSetName = WorkloadIdentitySet)]
        [ValidateNotNullOrEmpty]
        public string AuthorityHost { get; set; }

        // Azure Resource Manager (issue 11): where ARM calls go and the default subscription.
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string ResourceManagerEndpoint { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string SubscriptionId { get; set; }

        protected override void EndProcessing()
        {
            var arguments = new Hashtable();
            arguments["method"] = EngineMethod(ParameterSetName);
            arguments["environment"] = EnvironmentSnapshot();
            foreach (string name in new[] { "ClientId", "ObjectId", "ResourceId", "Resource", "GraphEndpoint", "TenantId", "Scopes", "AuthorityHost" })
            {
                object value;
                if (MyInvocation.BoundParameters.TryGetValue(name, out value)) arguments[ArgumentName(name)] = value;
            }
            if (MyInvocation.BoundParameters.ContainsKey("TimeoutSec")) arguments["timeoutSeconds"] = TimeoutSec;
            foreach (string name in new[] { "ResourceManagerEndpoint", "SubscriptionId" })
            {
                object value;
                if (MyInvocation.BoundParameters.TryGetValue(name, out value)) arguments[ArgumentName(name)] = value;
            }

            if (Environment != null) arguments["cloud"] = Environment;
            if (CertificatePath != null) arguments["certificatePath"] = GetUnresolvedProviderPathFromPSPath(CertificatePath);
            if (FederatedTokenFile != null) arguments["federatedTokenFile"] = GetUnresolvedProviderPathFromPSPath(FederatedTokenFile);
            if (Credential != null) arguments["clientId"] = Credential.UserName;

            JsonObject description;
            if (ParameterSetName == AccessTokenSet)
            {
                description = InvokeEngineRaw("identity.connect", arguments, AccessToken) as JsonObject;
            }
            else
            {
                using (var secret = new SecretObject())
                {
                    Call(() => { Engine.AddSecretVariables(secret); return true; });
                    secret.Add("clientSecret", ClientSecret ?? (Credential == null ? null : Credential.Password));
                    secret.Add("certificatePassword", CertificatePassword);
                    // FromStore only when asked: compiling it loads the certificate-store types.
                    X509Certificate2 certificate = Certificate ?? (CertificateThumbprint == null ? null : FromStore(CertificateThumbprint));
                    if (certificate != null) AddCertificate(secret, certificate);
                    using (SecureString secure = secret.ToSecureString())
                    {
                        description = InvokeEngineRaw("identity.connect", arguments, secure) as JsonObject;
                    }
                }
            }
            Context context = ContextFromDescription(description);
            ContextStore.Current = context;
            WriteObject(context);
        }

        /// <summary>The engine's connect method for a parameter set.</summary>
        private static string EngineMethod(string parameterSet)
        {
            switch (parameterSet)
            {
                case CredentialSet: return ClientSecretSet;
                case CertificatePathSet:
                case CertificateThumbprintSet: return CertificateSet;
                default: return parameterSet;
            }
        }

        /// <summary>-CertificateThumbprint: the certificate with a private key in the current
        /// user's, then the local machine's, personal store.</summary>
        private X509Certificate2 FromStore(string thumbprint)
        {
            if (thumbprint == null) return null;
            string wanted = thumbprint.Replace(" ", string.Empty).Replace(":", string.Empty);
            foreach (StoreLocation location in new[] { StoreLocation.CurrentUser, StoreLocation.LocalMachine })
            {
                try
                {
                    using (var store = new X509Store(StoreName.My, location))
                    {
                        store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
                        foreach (X509Certificate2 found in store.Certificates.Find(X509FindType.FindByThumbprint, wanted, false))
                        {
                            if (found.HasPrivateKey) return found;
                        }
                    }
                }
                catch (CryptographicException)
                {
                    // This platform has no such store (e.g. LocalMachine on Linux): try the next one.
                }
            }
            ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "ObjectNotFound",
                "No certificate with the thumbprint '" + wanted + "' and a private key is in the CurrentUser or LocalMachine personal (My) store.", null, thumbprint));
            return null;
        }

        /// <summary>The certificate's DER and RSA private key, into the secret (never JSON).</summary>
        private void AddCertificate(SecretObject secret, X509Certificate2 certificate)
        {
            RSA rsa = null;
            RSAParameters parameters = default(RSAParameters);
            try
            {
                rsa = certificate.HasPrivateKey ? certificate.GetRSAPrivateKey() : null;
                if (rsa == null)
                {
                    ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "InvalidArgument",
                        "The certificate " + certificate.Thumbprint + " has no RSA private key here; pass a certificate with its private key (or use -CertificatePath).", null, certificate.Thumbprint));
                }
                parameters = rsa.ExportParameters(true);
            }
            catch (CryptographicException e)
            {
                ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "InvalidArgument",
                    "The private key of the certificate " + certificate.Thumbprint + " cannot be exported (" + e.Message + "); import it as exportable or use -CertificatePath.", null, certificate.Thumbprint));
            }
            finally
            {
                if (rsa != null) rsa.Dispose();
            }
            using (var key = new SecretObject())
            {
                try
                {
                    key.AddBase64("n", parameters.Modulus);
                    key.AddBase64("e", parameters.Exponent);
                    key.AddBase64("d", parameters.D);
                    key.AddBase64("p", parameters.P);
                    key.AddBase64("q", parameters.Q);
                    key.AddBase64("dp", parameters.DP);
                    key.AddBase64("dq", parameters.DQ);
                    key.AddBase64("qi", parameters.InverseQ);
                    secret.Add("privateKey", key);
                }
                finally
                {
                    foreach (byte[] part in new[] { parameters.D, parameters.P, parameters.Q, parameters.DP, parameters.DQ, parameters.InverseQ })
                    {
                        if (part != null) Array.Clear(part, 0, part.Length);
                    }
                }
            }
            secret.AddBase64("certificate", certificate.RawData);
        }
    }
}
