// What -Identity accepts. By value only (never bound by property name, so an app role's Id or a
// random object's DisplayName is never taken for a principal):
//   - strings (object id, app id, ARM resource id or exact display name) and GUIDs;
//   - our own output: ManagedIdentity.AppRoleAssignment / .AppRoleGrantResult (IdentityId) and
//     ManagedIdentity.Context (ObjectId);
//   - Az identity objects and anything that names the principal explicitly: PrincipalId,
//     IdentityId or ObjectId;
//   - Microsoft Graph service principals (id together with appId or servicePrincipalType,
//     e.g. from Invoke-GraphApiRequest or Get-MgServicePrincipal).
// Anything else is refused with ManagedIdentity.InvalidIdentityInput before any write.
// An object with Status 'Created' (New-UserAssignedIdentity just made it) or PrincipalCreated
// (Set-AutomationAccountIdentity just turned the system-assigned identity on) is reported as new:
// the engine then waits, bounded, for its principal to replicate to Microsoft Graph.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;

namespace ManagedIdentity.Interop.Commands
{
    internal static class IdentityInput
    {
        private static readonly string[] PrincipalProperties = { "IdentityId", "PrincipalId", "ObjectId" };

        /// <summary>The identity strings of one -Identity value (null/empty entries skipped);
        /// null and the offending object when something is not a principal.
        /// When <paramref name="created"/> is given, each identity taken from an object that
        /// reports it was just created (Status 'Created', PrincipalCreated) is also added there.</summary>
        public static List<string> Extract(object[] values, out object refused, List<string> created = null)
        {
            refused = null;
            var identities = new List<string>();
            if (values == null) return identities;
            foreach (object value in values)
            {
                string identity;
                if (!TryExtract(value, out identity))
                {
                    refused = value;
                    return null;
                }
                if (string.IsNullOrWhiteSpace(identity)) continue;
                identities.Add(identity);
                if (created != null && JustCreated(value)) created.Add(identity);
            }
            return identities;
        }

        public static ErrorRecord Refused(object value, string commandName)
        {
            string shape = value == null ? "null" : DescribeShape(value);
            return ErrorRecords.Create("ManagedIdentity.InvalidIdentityInput", "InvalidArgument", "InvalidArgument",
                "-Identity does not accept " + shape + ": pass an object id, app id, ARM resource id or display name, a service principal, " +
                "an Az identity object (PrincipalId) or output of this module's commands. Nothing was changed.", null, value);
        }

        private static bool TryExtract(object value, out string identity)
        {
            identity = null;
            if (value == null) return true;
            var wrapped = value as PSObject;
            object baseObject = wrapped != null ? wrapped.BaseObject : value;
            if (baseObject is string) { identity = (string)baseObject; return true; }
            if (baseObject is Guid) { identity = ((Guid)baseObject).ToString(); return true; }
            var context = baseObject as Context;
            if (context != null) { identity = context.ObjectId; return identity != null; }
            if (baseObject is IDictionary || baseObject is ValueType) return false;

            PSObject o = wrapped ?? PSObject.AsPSObject(value);
            foreach (string name in PrincipalProperties)
            {
                string found = Text(o, name);
                if (found != null) { identity = found; return true; }
            }
            // A Graph service principal: its object id, recognised by the service-principal shape.
            string id = Text(o, "Id");
            if (id != null && (Text(o, "AppId") != null || Text(o, "ServicePrincipalType") != null || HasTypeName(o, "servicePrincipal")))
            {
                identity = id;
                return true;
            }
            return false;
        }

        private static bool JustCreated(object value)
        {
            var wrapped = value as PSObject;
            object baseObject = wrapped != null ? wrapped.BaseObject : value;
            if (baseObject is string || baseObject is ValueType || baseObject is IDictionary || baseObject is Context) return false;
            PSObject o = wrapped ?? PSObject.AsPSObject(value);
            if (Text(o, "PrincipalId") == null) return false;
            PSPropertyInfo principalCreated = o.Properties["PrincipalCreated"];
            try { if (principalCreated != null && LanguagePrimitives.IsTrue(principalCreated.Value)) return true; }
            catch (GetValueException) { return false; }
            PSPropertyInfo status = o.Properties["Status"];
            object text;
            try { text = status == null ? null : status.Value; }
            catch (GetValueException) { return false; }
            return text != null && string.Equals(text.ToString(), "Created", StringComparison.OrdinalIgnoreCase);
        }

        private static bool HasTypeName(PSObject o, string fragment)
        {
            foreach (string name in o.TypeNames)
            {
                if (name.IndexOf(fragment, StringComparison.OrdinalIgnoreCase) >= 0) return true;
            }
            PSPropertyInfo odataType = o.Properties["@odata.type"];
            return odataType != null && odataType.Value != null && odataType.Value.ToString().IndexOf(fragment, StringComparison.OrdinalIgnoreCase) >= 0;
        }

        private static string Text(PSObject o, string name)
        {
            PSPropertyInfo property = o.Properties[name];
            if (property == null) return null;
            object value;
            try { value = property.Value; }
            catch (GetValueException) { return null; }
            if (value == null) return null;
            var inner = value as PSObject;
            if (inner != null) value = inner.BaseObject;
            if (!(value is string) && !(value is Guid)) return null;
            string text = Convert.ToString(value, CultureInfo.InvariantCulture);
            return string.IsNullOrWhiteSpace(text) ? null : text;
        }

        private static string DescribeShape(object value)
        {
            var o = PSObject.AsPSObject(value);
            string typeName = o.TypeNames.Count > 0 ? o.TypeNames[0] : value.GetType().FullName;
            return "an object of type " + typeName;
        }
    }
}
