// Invoke-GraphApiRequest: any Microsoft Graph request with the context's token. (Not named
// Invoke-GraphRequest: Microsoft.Graph.Authentication exports that name as an alias, and
// aliases win over commands.)
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsLifecycle.Invoke, "GraphApiRequest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(PSObject))]
    public sealed class InvokeGraphApiRequestCommand : EngineCmdlet
    {
        private string method = "GET";

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Uri { get; set; }

        [Parameter]
        [ValidateSet("GET", "POST", "PUT", "PATCH", "DELETE")]
        public string Method { get { return method; } set { method = value; } }

        [Parameter]
        public object Body { get; set; }

        [Parameter]
        public SwitchParameter All { get; set; }

        [Parameter]
        public Hashtable Headers { get; set; }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            string verb = Method.ToUpperInvariant();
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["method"] = verb;
            arguments["uri"] = Uri;
            arguments["all"] = All.IsPresent;
            if (Body != null)
            {
                object body = Body is PSObject ? ((PSObject)Body).BaseObject : Body;
                arguments["body"] = body is string ? body : Json.Serialize(Body);
            }
            if (Headers != null && Headers.Count > 0)
            {
                var headers = new Hashtable();
                foreach (DictionaryEntry header in Headers)
                {
                    headers[LanguagePrimitives.ConvertTo<string>(header.Key)] = LanguagePrimitives.ConvertTo<string>(header.Value);
                }
                arguments["headers"] = headers;
            }
            if (verb != "GET" && !ShouldProcess(Uri, verb)) return;
            InvokeEngine("graph.request", arguments, target: Uri);
        }
    }
}
