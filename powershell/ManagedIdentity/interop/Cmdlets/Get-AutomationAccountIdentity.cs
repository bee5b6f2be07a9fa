// Get-AutomationAccountIdentity: the system-assigned principal and every attached
// user-assigned identity (name, resource id, client id, principal id).
using System.Collections;
using System.Management.Automation;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "AutomationAccountIdentity")]
    [OutputType("ManagedIdentity.AutomationAccountIdentity")]
    public sealed class GetAutomationAccountIdentityCommand : ArmCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string AutomationAccountName { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string ResourceGroupName { get; set; }

        protected override void ProcessRecord()
        {
            var arguments = new Hashtable();
            arguments["automationAccountName"] = AutomationAccountName;
            arguments["resourceGroupName"] = ResourceGroupName;
            InvokeArm("arm.getAutomationIdentity", arguments, "ManagedIdentity.AutomationAccountIdentity", AutomationAccountName);
        }
    }
}
