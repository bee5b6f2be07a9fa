// New-UserAssignedIdentity: idempotent create (Status Created, or Existing for the same name in
// the same location); -WhatIf reads and reports WouldCreate without writing.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.New, "UserAssignedIdentity", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType("ManagedIdentity.UserAssignedIdentity")]
    public sealed class NewUserAssignedIdentityCommand : ArmCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string ResourceGroupName { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Location { get; set; }

        [Parameter]
        public Hashtable Tag { get; set; }

        protected override void ProcessRecord()
        {
            var arguments = new Hashtable();
            arguments["name"] = Name;
            arguments["resourceGroupName"] = ResourceGroupName;
            arguments["location"] = Location;
            if (Tag != null) arguments["tags"] = Tag;
            bool approved = ShouldProcess(ResourceGroupName + "/" + Name, "Create user-assigned identity in " + Location);
            if (!approved && !IsWhatIf()) return;
            arguments["whatIf"] = !approved;
            InvokeArm("arm.newIdentity", arguments, "ManagedIdentity.UserAssignedIdentity", Name);
        }
    }
}
