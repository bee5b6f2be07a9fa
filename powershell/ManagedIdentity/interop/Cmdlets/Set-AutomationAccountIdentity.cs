// Set-AutomationAccountIdentity: the engine plans from the current state (identities not named
// are kept). The plan is read first (whatIf) so ShouldProcess can show it; turning the
// system-assigned identity off additionally asks for confirmation (its principal and
// permissions are deleted) unless -Force. Pipeline input by property name: a
// New-UserAssignedIdentity result binds to -AddUserAssigned through its ResourceId.
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Set, "AutomationAccountIdentity", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType("ManagedIdentity.AutomationAccountIdentity")]
    public sealed class SetAutomationAccountIdentityCommand : ArmCmdlet
    {
        private readonly List<string> add = new List<string>();
        private readonly List<string> remove = new List<string>();

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string AutomationAccountName { get; set; }

        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string ResourceGroupName { get; set; }

        [Parameter]
        public bool SystemAssigned { get; set; }

        [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("ResourceId")]
        public object[] AddUserAssigned { get; set; }

        [Parameter]
        public object[] RemoveUserAssigned { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            Collect(AddUserAssigned, add);
        }

        protected override void EndProcessing()
        {
            Collect(RemoveUserAssigned, remove);
            var arguments = new Hashtable();
            arguments["automationAccountName"] = AutomationAccountName;
            arguments["resourceGroupName"] = ResourceGroupName;
            if (MyInvocation.BoundParameters.ContainsKey("SystemAssigned")) arguments["systemAssigned"] = SystemAssigned;
            arguments["addUserAssigned"] = add.ToArray();
            arguments["removeUserAssigned"] = remove.ToArray();
            arguments["whatIf"] = true;
            var rows = new List<object>();
            InvokeArm("arm.setAutomationIdentity", arguments, null, AutomationAccountName, rows);
            PSObject plan = rows.Count > 0 ? PSObject.AsPSObject(rows[0]) : null;
            List<string> changes = Changes(plan);
            if (changes.Count == 0)
            {
                if (plan != null) WriteObject(Typed(plan));
                return;
            }
            string target = ResourceGroupName + "/" + AutomationAccountName;
            bool approved = ShouldProcess(target, string.Join("; ", changes.ToArray()));
            bool disablesSystem = MyInvocation.BoundParameters.ContainsKey("SystemAssigned") && !SystemAssigned &&
                plan != null && LanguagePrimitives.IsTrue(plan.Properties["SystemAssigned"].Value);
            if (approved && disablesSystem)
            {
                WriteWarning("Turning the system-assigned identity off deletes its service principal and every permission granted to it; turning it on again creates a new principal with no permissions.");
                if (!Force && !ShouldContinue("Delete the system-assigned identity of " + target + " with its permissions?", "Turn the system-assigned identity off")) return;
            }
            if (!approved)
            {
                if (IsWhatIf() && plan != null) WriteObject(Typed(plan));
                return;
            }
            arguments["whatIf"] = false;
            InvokeArm("arm.setAutomationIdentity", arguments, "ManagedIdentity.AutomationAccountIdentity", AutomationAccountName);
        }

        private static void Collect(object[] values, List<string> into)
        {
            if (values == null) return;
            foreach (object value in values)
            {
                if (value == null) continue;
                PSObject o = PSObject.AsPSObject(value);
                object baseObject = o.BaseObject;
                if (baseObject is string) { into.Add((string)baseObject); continue; }
                PSPropertyInfo rid = o.Properties["ResourceId"] ?? o.Properties["Id"];
                if (rid != null && rid.Value != null) { into.Add(rid.Value.ToString()); continue; }
                PSPropertyInfo name = o.Properties["Name"];
                into.Add(name != null && name.Value != null ? name.Value.ToString() : value.ToString());
            }
        }

        private static List<string> Changes(PSObject row)
        {
            var list = new List<string>();
            if (row == null) return list;
            PSPropertyInfo property = row.Properties["Changes"];
            object changes = property == null ? null : property.Value;
            var enumerable = LanguagePrimitives.GetEnumerable(changes);
            if (enumerable == null) return list;
            foreach (object c in enumerable) if (c != null) list.Add(c.ToString());
            return list;
        }

        private static PSObject Typed(PSObject row)
        {
            row.TypeNames.Insert(0, "ManagedIdentity.AutomationAccountIdentity");
            return row;
        }
    }
}
