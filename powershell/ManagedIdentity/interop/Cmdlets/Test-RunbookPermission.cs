// Test-RunbookPermission: what a runbook needs against what its identity holds (Missing, Broader,
// Excess with the audit's risk level, Satisfied). Rows pipe into Set-GraphAppRole /
// Grant-GraphAppRole: each carries IdentityId, Resource and the Permission to hold.
using System.Collections.Generic;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsDiagnostic.Test, "RunbookPermission", DefaultParameterSetName = "Path")]
    [OutputType("ManagedIdentity.RunbookPermission")]
    public sealed class TestRunbookPermissionCommand : RunbookPermissionCommand
    {
        private string scheme = "Application";

        [Parameter(Position = 1)]
        [Alias("IdentityId", "ObjectId", "PrincipalId")]
        [ValidateNotNull]
        public object Identity { get; set; }

        [Parameter]
        [ValidateSet("Application", "Delegated")]
        public string Scheme { get { return scheme; } set { scheme = value; } }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            if (!HasScripts) return;
            var arguments = ScriptArguments();
            arguments["context"] = context.Handle;
            arguments["scheme"] = Scheme;
            if (Identity != null)
            {
                object refused;
                List<string> found = IdentityInput.Extract(new[] { Identity }, out refused);
                if (found == null) ThrowTerminatingError(IdentityInput.Refused(refused, MyInvocation.MyCommand.Name));
                if (found.Count > 0) arguments["identity"] = found[0];
            }
            InvokeEngine("permissions.test", arguments, itemTypeName: "ManagedIdentity.RunbookPermission");
        }
    }
}
