// Disconnect-Identity: frees the engine context and forgets it in this runspace.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommunications.Disconnect, "Identity", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(void))]
    public sealed class DisconnectIdentityCommand : EngineCmdlet
    {
        [Parameter(ValueFromPipeline = true)]
        public Context Context { get; set; }

        protected override void ProcessRecord()
        {
            Context context = ResolveContextOrNull(Context);
            if (context == null) return;
            string name = context.ClientId;
            if (string.IsNullOrEmpty(name)) name = context.AuthType;
            if (!ShouldProcess(name, "Disconnect")) return;
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            InvokeEngine("identity.disconnect", arguments, target: context);
            ContextStore.Forget(context.Handle);
        }
    }
}
