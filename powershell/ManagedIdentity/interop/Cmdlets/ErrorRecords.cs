// ErrorRecords with stable ids: ManagedIdentity.<Kind>, the stable part of the FullyQualifiedErrorId
// (PowerShell appends ",<the cmdlet's type>", e.g. ",ManagedIdentity.Interop.Commands.ConnectIdentityCommand";
// the command's name is in the record's InvocationInfo), and the engine's ErrorCategory.
using System;
using System.Management.Automation;

namespace ManagedIdentity.Interop.Commands
{
    internal static class ErrorRecords
    {
        /// <summary>From an engine error object {errorId, kind, category, message, details}.</summary>
        public static ErrorRecord FromEngine(PSObject engineError, object target)
        {
            string errorId = Text(engineError, "errorId") ?? "ManagedIdentity.Internal";
            string kind = Text(engineError, "kind") ?? "Internal";
            string category = Text(engineError, "category") ?? "NotSpecified";
            PSPropertyInfo details = engineError.Properties["details"];
            object detailsValue = details == null ? null : details.Value;
            string message = Text(engineError, "message") ?? "The ManagedIdentity engine reported an error.";
            // A refusal the engine explained (ManagedIdentity.PermissionDenied): its facts are the
            // record's TargetObject, and the fixing command its RecommendedAction.
            var facts = detailsValue as PSObject;
            object permission = facts == null ? null : Value(facts, "permission");
            ErrorRecord record = Create(errorId, kind, category, message, detailsValue, permission ?? target);
            string action = facts == null ? null : Text(facts, "recommendedAction");
            if (action != null) record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = action };
            return record;
        }

        public static ErrorRecord Create(string errorId, string kind, string category, string message, object details, object target)
        {
            var exception = new ManagedIdentityException(errorId, kind, category, message, details);
            ErrorCategory parsed;
            if (!Enum.TryParse(category, out parsed)) parsed = ErrorCategory.NotSpecified;
            return new ErrorRecord(exception, errorId, parsed, target);
        }

        public static ErrorRecord NotConnected()
        {
            return Create("ManagedIdentity.NotConnected", "NotConnected", "InvalidOperation",
                "Not connected. Run Connect-Identity first (for example Connect-Identity -Identity), or pass -Context.", null, null);
        }

        public static ErrorRecord ForeignContext(Context context)
        {
            return Create("ManagedIdentity.ForeignContext", "ForeignContext", "SecurityError",
                "This context was created in another runspace and cannot be used here. Run Connect-Identity in this runspace.", null, context);
        }

        /// <summary>The engine library could not be loaded or called at all.</summary>
        public static ErrorRecord EngineUnavailable(Exception exception)
        {
            return new ErrorRecord(exception, "ManagedIdentity.EngineUnavailable", ErrorCategory.ResourceUnavailable, null);
        }

        private static object Value(PSObject o, string name)
        {
            PSPropertyInfo property = o.Properties[name];
            return property == null ? null : property.Value;
        }

        private static string Text(PSObject o, string name)
        {
            PSPropertyInfo property = o.Properties[name];
            return property == null || property.Value == null ? null : property.Value.ToString();
        }
    }
}
