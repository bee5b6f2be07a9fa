// Set-GraphAppRole: makes an identity's app roles on one API exactly the given set.
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Set, "GraphAppRole", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType("ManagedIdentity.AppRoleGrantResult")]
    public sealed class SetGraphAppRoleCommand : GraphAppRoleChangeCommand
    {
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [Alias("Permissions", "AppRole", "Value")]
        [AllowEmptyCollection]
        [ArgumentCompleter(typeof(PermissionCompleter))]
        public string[] Permission { get; set; }

        internal override string Operation { get { return "graph.set"; } }

        internal override string[] Permissions { get { return Permission; } }

        internal override string Describe(string[] permissions, string resourceName)
        {
            if (permissions.Length == 0) return "Remove every app role on " + resourceName;
            return "Set app roles on " + resourceName + " to exactly " + string.Join(", ", permissions);
        }
    }
}
