// Tab completion of -Permission / -Name: the role values of the bound -Resource (default Graph)
// that start with the typed prefix. Nothing (and no error) when not connected. Bounded: one
// engine lookup per (context, resource) waits at most TimeoutMilliseconds, then is cancelled and
// offers nothing; a lookup that finished is cached for CacheLifetime, so every further Tab on
// that resource filters in memory without a request.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace ManagedIdentity.Interop.Commands
{
    public sealed class PermissionCompleter : IArgumentCompleter
    {
        /// <summary>The longest one completion waits for the engine.</summary>
        public const int TimeoutMilliseconds = 3000;

        private const int PollMilliseconds = 100;
        private const int MaxCachedLookups = 64;
        private static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);
        private static readonly Dictionary<string, CachedNames> Cache = new Dictionary<string, CachedNames>(StringComparer.Ordinal);

        private sealed class CachedNames
        {
            public readonly List<string> Names;
            public readonly DateTime ExpiresUtc;
            public CachedNames(List<string> names, DateTime expiresUtc) { Names = names; ExpiresUtc = expiresUtc; }
        }

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
                List<string> names = Lookup(context, resource);
                if (names == null) return results;
                foreach (string name in names)
                {
                    if (!name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
                    results.Add(new CompletionResult(name, name, CompletionResultType.ParameterValue, name));
                }
            }
            catch (Exception)
            {
                // Completion must never fail the prompt; it just offers nothing.
                results.Clear();
            }
            return results;
        }

        /// <summary>Every grantable role value of the resource (cached), or null when the engine
        /// did not answer within the bound or answered with an error.</summary>
        private static List<string> Lookup(Context context, string resource)
        {
            string key = context.Handle.ToString(System.Globalization.CultureInfo.InvariantCulture) + "|" + (resource ?? string.Empty).Trim().ToLowerInvariant();
            DateTime now = DateTime.UtcNow;
            lock (Cache)
            {
                CachedNames cached;
                if (Cache.TryGetValue(key, out cached) && cached.ExpiresUtc > now) return cached.Names;
            }

            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["prefix"] = string.Empty;
            if (!string.IsNullOrWhiteSpace(resource)) arguments["resource"] = resource;
            var request = new Hashtable();
            request["op"] = "graph.permissionNames";
            request["args"] = arguments;
            var names = new List<string>();
            Stopwatch watch = Stopwatch.StartNew();
            using (EngineOperation operation = Engine.Start(Json.Serialize(request), null))
            {
                while (true)
                {
                    long left = TimeoutMilliseconds - watch.ElapsedMilliseconds;
                    if (left <= 0)
                    {
                        operation.Cancel();
                        return null;
                    }
                    string text = operation.Poll((int)Math.Min(PollMilliseconds, left));
                    if (text == null) continue;
                    EngineChunk chunk = EngineChunk.Parse(text, null);
                    foreach (object item in chunk.Items)
                    {
                        names.Add(Convert.ToString(item, System.Globalization.CultureInfo.InvariantCulture));
                    }
                    if (!chunk.Done) continue;
                    if (chunk.Error != null) return null;
                    break;
                }
            }
            lock (Cache)
            {
                if (Cache.Count >= MaxCachedLookups)
                {
                    var expired = new List<string>();
                    foreach (KeyValuePair<string, CachedNames> entry in Cache)
                    {
                        if (entry.Value.ExpiresUtc <= now) expired.Add(entry.Key);
                    }
                    foreach (string old in expired) Cache.Remove(old);
                    if (Cache.Count >= MaxCachedLookups) Cache.Clear();
                }
                Cache[key] = new CachedNames(names, now + CacheLifetime);
            }
            return names;
        }
    }
}
