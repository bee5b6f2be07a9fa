// Grant-GraphAppRole: adds app roles, idempotently, in bulk, safe under -WhatIf.
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsSecurity.Grant, "GraphAppRole", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType("ManagedIdentity.AppRoleGrantResult")]
    public sealed class GrantGraphAppRoleCommand : GraphAppRoleChangeCommand
    {
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [Alias("Permissions", "AppRole", "Value")]
        // Empty is allowed for piped records that hold nothing to grant (Test-RunbookPermission's
        // Excess rows); the engine refuses a grant with no permission at all.
        [AllowEmptyCollection]
        [ArgumentCompleter(typeof(PermissionCompleter))]
        public string[] Permission { get; set; }

        internal override string Operation { get { return "graph.grant"; } }

        internal override string[] Permissions { get { return Permission; } }

        internal override string Describe(string[] permissions, string resourceName)
        {
            return "Grant " + string.Join(", ", permissions) + " on " + resourceName;
        }
    }
}
