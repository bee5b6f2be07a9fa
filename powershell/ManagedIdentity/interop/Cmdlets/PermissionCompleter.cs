// Tab completion of -Permission / -Name: the role values of the bound -Resource (default Graph)
// that start with the typed prefix. Nothing (and no error) when not connected.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace ManagedIdentity.Interop.Commands
{
    public sealed class PermissionCompleter : IArgumentCompleter
    {
        private const int MaxPolls = 50;

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var results = new List<CompletionResult>();
            try
            {
                Context context = null;
                string resource = null;
                if (fakeBoundParameters != null)
                {
                    if (fakeBoundParameters.Contains("Context")) context = PSObject.AsPSObject(fakeBoundParameters["Context"]).BaseObject as Context;
                    if (fakeBoundParameters.Contains("Resource")) resource = Convert.ToString(fakeBoundParameters["Resource"], System.Globalization.CultureInfo.InvariantCulture);
                }
                if (context == null) context = ContextStore.Current;
                if (context == null || !ContextStore.OwnedByCaller(context)) return results;
                string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"').TrimEnd('*', '?');
                var arguments = new Hashtable();
                arguments["context"] = context.Handle;
                arguments["prefix"] = prefix;
                if (!string.IsNullOrWhiteSpace(resource)) arguments["resource"] = resource;
                var request = new Hashtable();
                request["op"] = "graph.permissionNames";
                request["args"] = arguments;
                using (EngineOperation operation = Engine.Start(Json.Serialize(request), null))
                {
                    for (int i = 0; i < MaxPolls; i++)
                    {
                        string text = operation.Poll(200);
                        if (text == null) continue;
                        EngineChunk chunk = EngineChunk.Parse(text, null);
                        foreach (object item in chunk.Items)
                        {
                            string name = Convert.ToString(item, System.Globalization.CultureInfo.InvariantCulture);
                            results.Add(new CompletionResult(name, name, CompletionResultType.ParameterValue, name));
                        }
                        if (chunk.Done) break;
                    }
                }
            }
            catch (Exception)
            {
                // Completion must never fail the prompt; it just offers nothing.
                results.Clear();
            }
            return results;
        }
    }
}
