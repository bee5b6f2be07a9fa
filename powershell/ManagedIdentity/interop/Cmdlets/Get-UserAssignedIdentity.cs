// Get-UserAssignedIdentity: one identity, a wildcard, a resource group or the whole subscription.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "UserAssignedIdentity")]
    [OutputType("ManagedIdentity.UserAssignedIdentity")]
    public sealed class GetUserAssignedIdentityCommand : ArmCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        public string Name { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        public string ResourceGroupName { get; set; }

        protected override void ProcessRecord()
        {
            var arguments = new Hashtable();
            if (!string.IsNullOrWhiteSpace(Name)) arguments["name"] = Name;
            if (!string.IsNullOrWhiteSpace(ResourceGroupName)) arguments["resourceGroupName"] = ResourceGroupName;
            InvokeArm("arm.getIdentity", arguments, "ManagedIdentity.UserAssignedIdentity", Name);
        }
    }
}
