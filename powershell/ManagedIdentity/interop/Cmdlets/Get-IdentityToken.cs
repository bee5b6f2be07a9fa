// Get-IdentityToken: from the process-wide cache when fresh (no engine operation at all),
// otherwise acquired by the engine, then read from the cache.
using System.Collections;
using System.Management.Automation;
using System.Security;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "IdentityToken")]
    [OutputType(typeof(SecureString), typeof(string))]
    public sealed class GetIdentityTokenCommand : EngineCmdlet
    {
        [Parameter]
        [ArgumentCompleter(typeof(ResourceCompleter))]
        public string Resource { get; set; }

        [Parameter]
        public SwitchParameter ForceRefresh { get; set; }

        [Parameter]
        public SwitchParameter AsPlainText { get; set; }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            if (!ForceRefresh)
            {
                object cached = ReadCache(context);
                if (cached != null)
                {
                    WriteObject(cached);
                    return;
                }
            }
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["forceRefresh"] = ForceRefresh.IsPresent;
            if (!string.IsNullOrEmpty(Resource)) arguments["resource"] = Resource;
            InvokeEngine("identity.token", arguments, target: context);
            object token = ReadCache(context);
            if (token != null) WriteObject(token);
        }

        private object ReadCache(Context context)
        {
            if (AsPlainText) return Call(() => Engine.GetCachedTokenAsPlainText(context.Handle, Resource));
            return Call(() => Engine.GetCachedToken(context.Handle, Resource));
        }
    }
}
