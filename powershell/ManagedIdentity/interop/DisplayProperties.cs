// How output objects display without a format file: each typed item carries its default display
// properties (PSStandardMembers.DefaultDisplayPropertySet; four or fewer show as a table). A
// FormatsToProcess file would rebuild the session's whole format table at every import (measured
// interleaved: 45-65 ms more per cold import); this costs nothing until an object is written.
using System.Collections.Generic;
using System.Management.Automation;

namespace ManagedIdentity.Interop
{
    internal static class DisplayProperties
    {
        private static readonly Dictionary<string, string[]> ByTypeName = new Dictionary<string, string[]>
        {
            { "ManagedIdentity.AppRole", new[] { "Value", "DisplayName", "Id" } },
            { "ManagedIdentity.AppRoleGrantResult", new[] { "Identity", "Permission", "Resource", "Status" } },
            { "ManagedIdentity.AppRoleAssignment", new[] { "Identity", "Permission", "Resource", "AssignmentId" } },
            { "ManagedIdentity.EndpointStatus", new[] { "Source", "Selected", "Available", "Reason" } },
            { "ManagedIdentity.AppRoleReportRow", new[] { "IdentityName", "Permission", "RiskLevel", "Resource" } },
            { "ManagedIdentity.AppRoleRiskSummary", new[] { "RiskLevel", "Permissions", "Identities" } },
            { "ManagedIdentity.UserAssignedIdentity", new[] { "Name", "ResourceGroupName", "Location", "ClientId", "PrincipalId", "Status" } },
            { "ManagedIdentity.AutomationAccountIdentity", new[] { "AutomationAccountName", "IdentityType", "PrincipalId", "UserAssigned", "Status" } },
        };

        public static void Attach(PSObject item, string typeName)
        {
            string[] names;
            if (!ByTypeName.TryGetValue(typeName, out names)) return;
            var display = new PSPropertySet("DefaultDisplayPropertySet", names);
            item.Members.Add(new PSMemberSet("PSStandardMembers", new PSMemberInfo[] { display }));
        }
    }
}
