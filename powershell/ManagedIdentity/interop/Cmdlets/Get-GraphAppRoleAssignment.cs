// Get-GraphAppRoleAssignment: pipeline input is collected and read in one bulk engine run.
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "GraphAppRoleAssignment")]
    [OutputType("ManagedIdentity.AppRoleAssignment")]
    public sealed class GetGraphAppRoleAssignmentCommand : EngineCmdlet
    {
        private Context context;
        private readonly List<string> identities = new List<string>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [Alias("IdentityId", "ObjectId", "PrincipalId")]
        [ValidateNotNullOrEmpty]
        public object[] Identity { get; set; }

        [Parameter(Position = 1)]
        public string Resource { get; set; }

        [Parameter]
        public Context Context { get; set; }

        protected override void BeginProcessing()
        {
            context = ResolveContext(Context);
        }

        protected override void ProcessRecord()
        {
            object refused;
            List<string> found = IdentityInput.Extract(Identity, out refused);
            if (found == null) ThrowTerminatingError(IdentityInput.Refused(refused, MyInvocation.MyCommand.Name));
            identities.AddRange(found);
        }

        protected override void EndProcessing()
        {
            if (identities.Count == 0) return;
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["identities"] = identities.ToArray();
            if (!string.IsNullOrWhiteSpace(Resource)) arguments["resource"] = Resource;
            InvokeEngine("graph.assignments", arguments, itemTypeName: "ManagedIdentity.AppRoleAssignment", target: Resource);
        }
    }
}
