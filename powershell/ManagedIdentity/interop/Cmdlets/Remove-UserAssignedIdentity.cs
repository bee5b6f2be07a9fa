// Remove-UserAssignedIdentity: deleting the identity deletes its service principal and every
// app-role assignment it holds, hence ConfirmImpact High. A missing identity is Status NotFound.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Remove, "UserAssignedIdentity", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType("ManagedIdentity.UserAssignedIdentity")]
    public sealed class RemoveUserAssignedIdentityCommand : ArmCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string ResourceGroupName { get; set; }

        protected override void ProcessRecord()
        {
            var arguments = new Hashtable();
            arguments["name"] = Name;
            arguments["resourceGroupName"] = ResourceGroupName;
            bool approved = ShouldProcess(ResourceGroupName + "/" + Name,
                "Delete user-assigned identity (its service principal and all its app-role assignments are deleted with it)");
            if (!approved && !IsWhatIf()) return;
            arguments["whatIf"] = !approved;
            InvokeArm("arm.removeIdentity", arguments, "ManagedIdentity.UserAssignedIdentity", Name);
        }
    }
}
