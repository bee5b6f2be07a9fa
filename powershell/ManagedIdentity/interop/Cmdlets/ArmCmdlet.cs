// Base of the Azure Resource Manager cmdlets: -SubscriptionId and -Context, the engine call
// with the common arguments, and the -WhatIf test.
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace ManagedIdentity.Interop.Commands
{
    public abstract class ArmCmdlet : EngineCmdlet
    {
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string SubscriptionId { get; set; }

        [Parameter]
        public Context Context { get; set; }

        /// <summary>Runs one arm.* operation; rows are written typed as itemTypeName.</summary>
        internal object InvokeArm(string operation, Hashtable arguments, string itemTypeName, object target, List<object> collect = null)
        {
            Context context = ResolveContext(Context);
            arguments["context"] = context.Handle;
            if (!string.IsNullOrWhiteSpace(SubscriptionId)) arguments["subscriptionId"] = SubscriptionId;
            return InvokeEngine(operation, arguments, itemTypeName: itemTypeName, target: target, collect: collect);
        }

        internal bool IsWhatIf()
        {
            object whatIf;
            if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out whatIf)) return ((SwitchParameter)whatIf).IsPresent;
            object preference = SessionState.PSVariable.GetValue("WhatIfPreference");
            return preference != null && LanguagePrimitives.IsTrue(preference);
        }
    }
}
