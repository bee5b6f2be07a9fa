// The connection a command works with. Script cannot construct one (no public constructor) and
// each is bound to the runspace that created it, so one Automation job sharing a process cannot
// use another job's context, forged or passed along.
using System;
using System.Globalization;
using ManagedIdentity.Interop;
using System.Management.Automation.Runspaces;

namespace ManagedIdentity
{
    /// <summary>Returned by Connect-Identity and Get-IdentityContext; accepted by -Context.</summary>
    public sealed class Context
    {
        internal Context(ulong handle, Guid runspaceId, JsonObject description)
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
            selectedBy = Value(description, "SelectedBy");
            var roles = Value(description, "Roles") as object[];
            Roles = roles == null ? new string[0] : Array.ConvertAll(roles, r => Convert.ToString(r, CultureInfo.InvariantCulture));
            // Issue 10: who a signed-in context speaks for.
            PrincipalType = Text(description, "PrincipalType");
            var scopes = Value(description, "Scopes") as object[];
            Scopes = scopes == null ? new string[0] : Array.ConvertAll(scopes, r => Convert.ToString(r, CultureInfo.InvariantCulture));
            Account = Text(description, "Account");
            Environment = Text(description, "Environment");
            ResourceManagerEndpoint = Text(description, "ResourceManagerEndpoint");
            SubscriptionId = Text(description, "SubscriptionId");
            EngineVersion = Text(description, "EngineVersion");
            string expires = Text(description, "ExpiresOn");
            if (!string.IsNullOrEmpty(expires)) ExpiresOn = ParseUtc(expires);
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
        /// <summary>Which id selected a user-assigned identity ({Kind, Value}), or null.</summary>
        public object SelectedBy
        {
            get
            {
                // Made a PSCustomObject when first read, not on every connect.
                if (selectedBy is JsonObject) selectedBy = ManagedIdentity.Interop.Json.ToPowerShell(selectedBy);
                return selectedBy;
            }
        }

        private object selectedBy;
        /// <summary>Delegated (a user signed in: Scopes) or AppOnly (Roles).</summary>
        public string PrincipalType { get; private set; }
        /// <summary>Delegated permissions (the token's scp claim).</summary>
        public string[] Scopes { get; private set; }
        /// <summary>The signed-in user of a delegated sign-in.</summary>
        public string Account { get; private set; }
        /// <summary>The cloud of a sign-in (Global, USGov, USGovDoD, China).</summary>
        public string Environment { get; private set; }
        /// <summary>Where the Azure Resource Manager commands go.</summary>
        public string ResourceManagerEndpoint { get; private set; }
        /// <summary>The default subscription of the Azure Resource Manager commands.</summary>
        public string SubscriptionId { get; private set; }
        /// <summary>The version of the engine this context runs in.</summary>
        public string EngineVersion { get; private set; }

        /// <summary>The engine's handle: only this assembly sees it.</summary>
        internal ulong Handle { get; private set; }

        /// <summary>The runspace that created this context; no other may use it.</summary>
        internal Guid RunspaceId { get; private set; }

        public override string ToString()
        {
            return AuthType + " " + (Account ?? ClientId ?? ObjectId ?? string.Empty);
        }

        /// <summary>The engine's "yyyy-MM-ddTHH:mm:ssZ" read digit by digit (the general
        /// parser's first use costs about a millisecond on the cold path); anything else goes
        /// to DateTimeOffset.Parse.</summary>
        internal static DateTimeOffset ParseUtc(string text)
        {
            if (text.Length == 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' && text[13] == ':' && text[16] == ':' && text[19] == 'Z')
            {
                int year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2);
                int hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2);
                if (year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month) && hour < 24 && minute < 60 && second < 60)
                {
                    return new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero);
                }
            }
            return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        }

        /// <summary>The decimal number in text[start, start + count), or -1 when a character is not a digit.</summary>
        private static int Digits(string text, int start, int count)
        {
            int value = 0;
            for (int i = start; i < start + count; i++)
            {
                char c = text[i];
                if (c < '0' || c > '9') return -1;
                value = value * 10 + (c - '0');
            }
            return value;
        }

        private static object Value(JsonObject o, string name)
        {
            return o[name];
        }

        private static string Text(JsonObject o, string name)
        {
            return o.Text(name);
        }
    }
}
