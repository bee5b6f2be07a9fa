// Shared by Grant-, Revoke- and Set-GraphAppRole: process collects each pipeline record's
// {identity, permissions, resource}; end asks ShouldProcess once per identity, then runs one bulk
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
            foreach (Request request in requests)
            {
                string resourceName = string.IsNullOrWhiteSpace(request.Resource) ? "Graph" : request.Resource;
                string action = Describe(request.Permissions, resourceName);
                foreach (string identity in request.Identities)
                {
                    var entry = new Hashtable();
                    entry["identity"] = identity;
                    entry["permissions"] = request.Permissions;
                    entry["resource"] = request.Resource;
                    // Just created: the engine waits (bounded) for it to reach Microsoft Graph.
                    if (request.Created.Contains(identity)) entry["new"] = true;
                    if (ShouldProcess(identity, action)) approved.Add(entry);
                    else if (preview) previewed.Add(entry);
                }
            }
            Run(approved, false);
            Run(previewed, true);
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
