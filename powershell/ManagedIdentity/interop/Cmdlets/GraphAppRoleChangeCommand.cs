// Shared by Grant-, Revoke- and Set-GraphAppRole: process collects each pipeline record's
// {identity, permissions, resource}; end merges the records of one identity and API and asks
// ShouldProcess once per identity, then runs one bulk
// engine operation for the approved requests and, under -WhatIf, one preview (whatIf: the engine
// reads but never writes) for the others.
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace ManagedIdentity.Interop.Commands
{
    public abstract class GraphAppRoleChangeCommand : EngineCmdlet
    {
        private Context context;
        private readonly List<Request> requests = new List<Request>();
        private string resource = "Graph";

        private sealed class Request
        {
            public List<string> Identities;
            public List<string> Created;
            public string[] Permissions;
            public string Resource;
        }

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [Alias("IdentityId", "ObjectId", "PrincipalId")]
        [ValidateNotNullOrEmpty]
        public object[] Identity { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [AllowEmptyString]
        public string Resource { get { return resource; } set { resource = value; } }

        [Parameter]
        [ValidateRange(1, 16)]
        public int Concurrency { get; set; }

        [Parameter]
        public Context Context { get; set; }

        /// <summary>The engine operation: graph.grant, graph.revoke or graph.set.</summary>
        internal abstract string Operation { get; }

        /// <summary>The -Permission value of the current record.</summary>
        internal abstract string[] Permissions { get; }

        /// <summary>The ShouldProcess action text for one request.</summary>
        internal abstract string Describe(string[] permissions, string resourceName);

        protected override void BeginProcessing()
        {
            context = ResolveContext(Context);
        }

        protected override void ProcessRecord()
        {
            object refused;
            var created = new List<string>();
            List<string> identities = IdentityInput.Extract(Identity, out refused, created);
            if (identities == null) ThrowTerminatingError(IdentityInput.Refused(refused, MyInvocation.MyCommand.Name));
            requests.Add(new Request { Identities = identities, Created = created, Permissions = Permissions ?? new string[0], Resource = Resource });
        }

        protected override void EndProcessing()
        {
            var approved = new List<object>();
            var previewed = new List<object>();
            bool preview = IsWhatIf();
            foreach (Merged entry in Merge())
            {
                string resourceName = string.IsNullOrWhiteSpace(entry.Resource) ? "Graph" : entry.Resource;
                string[] permissions = entry.Permissions.ToArray();
                var record = new Hashtable();
                record["identity"] = entry.Identity;
                record["permissions"] = permissions;
                record["resource"] = entry.Resource;
                // Just created: the engine waits (bounded) for it to reach Microsoft Graph.
                if (entry.Created) record["new"] = true;
                if (ShouldProcess(entry.Identity, Describe(permissions, resourceName))) approved.Add(record);
                else if (preview) previewed.Add(record);
            }
            Run(approved, false);
            Run(previewed, true);
        }

        private sealed class Merged
        {
            public string Identity;
            public string Resource;
            public bool Created;
            public readonly List<string> Permissions = new List<string>();
        }

        /// <summary>The records of one identity and API as one request (the engine merges them the
        /// same way), so -WhatIf and -Confirm describe each identity's whole change once, e.g.
        /// Test-RunbookPermission's rows piped into Set-GraphAppRole.</summary>
        private List<Merged> Merge()
        {
            var merged = new List<Merged>();
            var byKey = new Dictionary<string, Merged>();
            foreach (Request request in requests)
            {
                foreach (string identity in request.Identities)
                {
                    string key = identity.Trim().ToLowerInvariant() + "\n" + (request.Resource ?? string.Empty).Trim().ToLowerInvariant();
                    Merged entry;
                    if (!byKey.TryGetValue(key, out entry))
                    {
                        entry = new Merged { Identity = identity, Resource = request.Resource };
                        byKey[key] = entry;
                        merged.Add(entry);
                    }
                    if (request.Created.Contains(identity)) entry.Created = true;
                    foreach (string permission in request.Permissions)
                    {
                        if (string.IsNullOrWhiteSpace(permission)) continue;
                        if (!entry.Permissions.Exists(p => string.Equals(p, permission.Trim(), System.StringComparison.OrdinalIgnoreCase))) entry.Permissions.Add(permission.Trim());
                    }
                }
            }
            return merged;
        }

        private void Run(List<object> entries, bool whatIf)
        {
            if (entries.Count == 0) return;
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["requests"] = entries.ToArray();
            arguments["whatIf"] = whatIf;
            if (Concurrency > 0) arguments["concurrency"] = Concurrency;
            InvokeEngine(Operation, arguments, itemTypeName: "ManagedIdentity.AppRoleGrantResult");
        }

        private bool IsWhatIf()
        {
            object whatIf;
            if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out whatIf)) return ((SwitchParameter)whatIf).IsPresent;
            object preference = SessionState.PSVariable.GetValue("WhatIfPreference");
            return preference != null && LanguagePrimitives.IsTrue(preference);
        }
    }
}
