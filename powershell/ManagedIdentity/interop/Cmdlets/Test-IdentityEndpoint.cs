// Test-IdentityEndpoint: one row per managed-identity source, from the engine.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsDiagnostic.Test, "IdentityEndpoint")]
    [OutputType("ManagedIdentity.EndpointStatus")]
    public sealed class TestIdentityEndpointCommand : EngineCmdlet
    {
        private int timeoutSec = 1;

        [Parameter]
        [ValidateRange(1, 60)]
        public int TimeoutSec { get { return timeoutSec; } set { timeoutSec = value; } }

        protected override void EndProcessing()
        {
            var arguments = new Hashtable();
            arguments["environment"] = EnvironmentSnapshot();
            arguments["timeoutSeconds"] = TimeoutSec;
            // IDENTITY_HEADER and the other secret variables travel in the secret (issue 8.9).
            using (var secret = new SecretObject())
            {
                Call(() => { Engine.AddSecretVariables(secret); return true; });
                InvokeEngine("identity.testEndpoint", arguments, secret.ToSecureString(), itemTypeName: "ManagedIdentity.EndpointStatus");
            }
        }
    }
}
