// Revoke-GraphAppRole: removes app roles, idempotently, in bulk, safe under -WhatIf.
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsSecurity.Revoke, "GraphAppRole", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType("ManagedIdentity.AppRoleGrantResult")]
    public sealed class RevokeGraphAppRoleCommand : GraphAppRoleChangeCommand
    {
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [Alias("Permissions", "AppRole", "Value")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(PermissionCompleter))]
        public string[] Permission { get; set; }

        internal override string Operation { get { return "graph.revoke"; } }

        internal override string[] Permissions { get { return Permission; } }

        internal override string Describe(string[] permissions, string resourceName)
        {
            return "Revoke " + string.Join(", ", permissions) + " on " + resourceName;
        }
    }
}
