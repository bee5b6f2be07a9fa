// Get-GraphAppRole: the application permissions an API offers.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "GraphAppRole")]
    [OutputType("ManagedIdentity.AppRole")]
    public sealed class GetGraphAppRoleCommand : EngineCmdlet
    {
        private string resource = "Graph";

        [Parameter(Position = 0)]
        [SupportsWildcards]
        [Alias("Value", "Permission")]
        [ArgumentCompleter(typeof(PermissionCompleter))]
        public string Name { get; set; }

        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Resource { get { return resource; } set { resource = value; } }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["resource"] = Resource;
            if (!string.IsNullOrEmpty(Name)) arguments["name"] = Name;
            InvokeEngine("graph.appRoles", arguments, itemTypeName: "ManagedIdentity.AppRole", target: Resource);
        }
    }
}
