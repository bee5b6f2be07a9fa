// Get-IdentityContext: the context as the engine sees it now (roles of the current token).
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "IdentityContext")]
    [OutputType(typeof(Context))]
    public sealed class GetIdentityContextCommand : EngineCmdlet
    {
        [Parameter(ValueFromPipeline = true)]
        public Context Context { get; set; }

        protected override void ProcessRecord()
        {
            Context context = ResolveContextOrNull(Context);
            if (context == null) return;
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            var description = InvokeEngineRaw("identity.context", arguments, target: context) as JsonObject;
            WriteObject(ContextFromDescription(description));
        }
    }
}
