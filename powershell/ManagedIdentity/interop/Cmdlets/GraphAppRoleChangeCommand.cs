// Shared by Grant-, Revoke- and Set-GraphAppRole: process collects each pipeline record's
// {identity, permissions, resource}; end has the engine merge the records of one identity and API
// (graph.mergeRequests, no request sent) and asks ShouldProcess once per identity, then runs one bulk
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
            foreach (JsonObject entry in MergedRequests())
            {
                string identity = entry["Identity"] as string;
                string resourceName = entry["Resource"] as string;
                if (string.IsNullOrEmpty(resourceName)) resourceName = "Graph";
                var permissions = new List<string>();
                var listed = entry["Permissions"] as IEnumerable;
                if (listed != null) foreach (object p in listed) permissions.Add(p as string);
                var record = new Hashtable();
                record["identity"] = identity;
                record["permissions"] = permissions.ToArray();
                record["resource"] = entry["Resource"];
                // Just created: the engine waits (bounded) for it to reach Microsoft Graph.
                if (true.Equals(entry["New"])) record["new"] = true;
                if (ShouldProcess(identity, Describe(permissions.ToArray(), resourceName))) approved.Add(record);
                else if (preview) previewed.Add(record);
            }
            Run(approved, false);
            Run(previewed, true);
        }

        /// <summary>The records as the engine merges them, one per identity and API (names
        /// trimmed, permissions de-duplicated there, nowhere else), so -WhatIf and -Confirm
        /// describe each identity's whole change once, e.g. Test-RunbookPermission's rows piped
        /// into Set-GraphAppRole.</summary>
        private List<JsonObject> MergedRequests()
        {
            var records = new List<object>();
            foreach (Request request in requests)
            {
                foreach (string identity in request.Identities)
                {
                    var record = new Hashtable();
                    record["identity"] = identity;
                    record["permissions"] = request.Permissions;
                    record["resource"] = request.Resource;
                    if (request.Created.Contains(identity)) record["new"] = true;
                    records.Add(record);
                }
            }
            var merged = new List<JsonObject>();
            if (records.Count == 0) return merged;
            var arguments = new Hashtable();
            arguments["requests"] = records.ToArray();
            var result = InvokeEngineRaw("graph.mergeRequests", arguments) as JsonObject;
            var list = result == null ? null : result["Requests"] as IEnumerable;
            if (list != null) foreach (object entry in list) if (entry is JsonObject) merged.Add((JsonObject)entry);
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
