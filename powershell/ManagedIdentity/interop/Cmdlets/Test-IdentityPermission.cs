// Test-IdentityPermission: is each permission in the token this identity uses now (Present), granted
// but not yet in it (NotYetInToken: the token predates the grant), not granted, or Unknown. -Refresh
// asks for a new token first; -Wait renews with backoff until every permission is present or
// -TimeoutSec runs out. The engine decides everything; this class only passes the parameters.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsDiagnostic.Test, "IdentityPermission")]
    [OutputType("ManagedIdentity.IdentityPermission")]
    public sealed class TestIdentityPermissionCommand : EngineCmdlet
    {
        private int timeoutSec = 300;

        [Parameter(Mandatory = true, Position = 0)]
        [Alias("Name", "Role")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(PermissionCompleter))]
        public string[] Permission { get; set; }

        [Parameter]
        public SwitchParameter Refresh { get; set; }

        [Parameter]
        public SwitchParameter Wait { get; set; }

        [Parameter]
        [ValidateRange(1, 86400)]
        public int TimeoutSec { get { return timeoutSec; } set { timeoutSec = value; } }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["permissions"] = Permission;
            arguments["refresh"] = Refresh.IsPresent;
            arguments["wait"] = Wait.IsPresent;
            arguments["timeoutSeconds"] = TimeoutSec;
            InvokeEngine("permissions.tokenCheck", arguments, itemTypeName: "ManagedIdentity.IdentityPermission", target: context);
        }
    }
}
