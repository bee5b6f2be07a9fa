// The connection a command works with. Script cannot construct one (no public constructor) and
// each is bound to the runspace that created it, so one Automation job sharing a process cannot
// use another job's context, forged or passed along.
using System;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace ManagedIdentity
{
    /// <summary>Returned by Connect-Identity and Get-IdentityContext; accepted by -Context.</summary>
    public sealed class Context
    {
        internal Context(ulong handle, Guid runspaceId, PSObject description)
        {
            Handle = handle;
            RunspaceId = runspaceId;
            AuthType = Text(description, "AuthType");
            Source = Text(description, "Source");
            IdentityType = Text(description, "IdentityType");
            ClientId = Text(description, "ClientId");
            ObjectId = Text(description, "ObjectId");
            TenantId = Text(description, "TenantId");
            ResourceId = Text(description, "ResourceId");
            Resource = Text(description, "Resource");
            GraphEndpoint = Text(description, "GraphEndpoint");
            SelectedBy = Value(description, "SelectedBy");
            var roles = Value(description, "Roles") as object[];
            Roles = roles == null ? new string[0] : Array.ConvertAll(roles, r => Convert.ToString(r, CultureInfo.InvariantCulture));
            // Issue 10: who a signed-in context speaks for.
            PrincipalType = Text(description, "PrincipalType");
            var scopes = Value(description, "Scopes") as object[];
            Scopes = scopes == null ? new string[0] : Array.ConvertAll(scopes, r => Convert.ToString(r, CultureInfo.InvariantCulture));
            Account = Text(description, "Account");
            Environment = Text(description, "Environment");
            string expires = Text(description, "ExpiresOn");
            if (!string.IsNullOrEmpty(expires))
            {
                ExpiresOn = DateTimeOffset.Parse(expires, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            }
        }

        public string AuthType { get; private set; }
        public string Source { get; private set; }
        public string IdentityType { get; private set; }
        public string ClientId { get; private set; }
        public string ObjectId { get; private set; }
        public string TenantId { get; private set; }
        public string ResourceId { get; private set; }
        public string[] Roles { get; private set; }
        public string Resource { get; private set; }
        public DateTimeOffset? ExpiresOn { get; private set; }
        public string GraphEndpoint { get; private set; }
        public object SelectedBy { get; private set; }
        /// <summary>Delegated (a user signed in: Scopes) or AppOnly (Roles).</summary>
        public string PrincipalType { get; private set; }
        /// <summary>Delegated permissions (the token's scp claim).</summary>
        public string[] Scopes { get; private set; }
        /// <summary>The signed-in user of a delegated sign-in.</summary>
        public string Account { get; private set; }
        /// <summary>The cloud of a sign-in (Global, USGov, USGovDoD, China).</summary>
        public string Environment { get; private set; }

        /// <summary>The engine's handle: only this assembly sees it.</summary>
        internal ulong Handle { get; private set; }

        /// <summary>The runspace that created this context; no other may use it.</summary>
        internal Guid RunspaceId { get; private set; }

        public override string ToString()
        {
            return AuthType + " " + (Account ?? ClientId ?? ObjectId ?? string.Empty);
        }

        private static object Value(PSObject o, string name)
        {
            PSPropertyInfo property = o.Properties[name];
            return property == null ? null : property.Value;
        }

        private static string Text(PSObject o, string name)
        {
            object value = Value(o, name);
            return value == null ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
        }
    }
}
