// Tab completion of -Resource (Connect-Identity, Get-IdentityToken): the well-known Azure
// resources of the cloud -Environment names (Global when unbound), matched by URL (with or
// without https://) or by service name. A fixed table: no engine call, no I/O.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace ManagedIdentity.Interop.Commands
{
    public sealed class ResourceCompleter : IArgumentCompleter
    {
        private sealed class Entry
        {
            public readonly string Name;
            public readonly string Uri;
            public Entry(string name, string uri) { Name = name; Uri = uri; }
        }

        // Clouds as -Environment names them (rust/core/src/credentials/cloud.rs); the URLs are the
        // audiences each service documents for managed-identity tokens in that cloud.
        private static readonly Entry[] Global =
        {
            new Entry("Microsoft Graph", "https://graph.microsoft.com"),
            new Entry("Azure Resource Manager", "https://management.azure.com"),
            new Entry("Key Vault", "https://vault.azure.net"),
            new Entry("Managed HSM", "https://managedhsm.azure.net"),
            new Entry("Storage", "https://storage.azure.com"),
            new Entry("Azure SQL", "https://database.windows.net"),
            new Entry("PostgreSQL / MySQL", "https://ossrdbms-aad.database.windows.net"),
            new Entry("Cosmos DB", "https://cosmos.azure.com"),
            new Entry("Service Bus", "https://servicebus.azure.net"),
            new Entry("Event Hubs", "https://eventhubs.azure.net"),
            new Entry("Azure Monitor", "https://monitor.azure.com"),
            new Entry("Log Analytics", "https://api.loganalytics.io"),
            new Entry("Cognitive Services / Azure OpenAI", "https://cognitiveservices.azure.com"),
            new Entry("App Configuration", "https://azconfig.io"),
            new Entry("Batch", "https://batch.core.windows.net"),
        };

        private static readonly Entry[] USGov =
        {
            new Entry("Microsoft Graph", "https://graph.microsoft.us"),
            new Entry("Azure Resource Manager", "https://management.usgovcloudapi.net"),
            new Entry("Key Vault", "https://vault.usgovcloudapi.net"),
            new Entry("Storage", "https://storage.azure.com"),
            new Entry("Azure SQL", "https://database.usgovcloudapi.net"),
            new Entry("Service Bus", "https://servicebus.usgovcloudapi.net"),
            new Entry("Log Analytics", "https://api.loganalytics.us"),
        };

        private static readonly Entry[] USGovDoD =
        {
            new Entry("Microsoft Graph", "https://dod-graph.microsoft.us"),
            new Entry("Azure Resource Manager", "https://management.usgovcloudapi.net"),
            new Entry("Key Vault", "https://vault.usgovcloudapi.net"),
            new Entry("Storage", "https://storage.azure.com"),
            new Entry("Azure SQL", "https://database.usgovcloudapi.net"),
            new Entry("Service Bus", "https://servicebus.usgovcloudapi.net"),
        };

        private static readonly Entry[] China =
        {
            new Entry("Microsoft Graph", "https://microsoftgraph.chinacloudapi.cn"),
            new Entry("Azure Resource Manager", "https://management.chinacloudapi.cn"),
            new Entry("Key Vault", "https://vault.azure.cn"),
            new Entry("Storage", "https://storage.azure.com"),
            new Entry("Azure SQL", "https://database.chinacloudapi.cn"),
            new Entry("Service Bus", "https://servicebus.chinacloudapi.cn"),
            new Entry("Log Analytics", "https://api.loganalytics.azure.cn"),
        };

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string environment = null;
            if (fakeBoundParameters != null && fakeBoundParameters.Contains("Environment"))
            {
                environment = Convert.ToString(fakeBoundParameters["Environment"], System.Globalization.CultureInfo.InvariantCulture);
            }
            string word = (wordToComplete ?? string.Empty).Trim('\'', '"').TrimEnd('*');
            var results = new List<CompletionResult>();
            foreach (Entry entry in ForCloud(environment))
            {
                if (!Matches(entry, word)) continue;
                results.Add(new CompletionResult(entry.Uri, entry.Uri, CompletionResultType.ParameterValue, entry.Name));
            }
            return results;
        }

        private static Entry[] ForCloud(string environment)
        {
            switch ((environment ?? string.Empty).Trim().ToLowerInvariant())
            {
                case "usgov":
                case "azureusgovernment":
                    return USGov;
                case "usgovdod":
                    return USGovDoD;
                case "china":
                case "azurechinacloud":
                    return China;
                default:
                    return Global;
            }
        }

        private static bool Matches(Entry entry, string word)
        {
            if (word.Length == 0) return true;
            const StringComparison ignoreCase = StringComparison.OrdinalIgnoreCase;
            if (entry.Uri.StartsWith(word, ignoreCase) || entry.Name.StartsWith(word, ignoreCase)) return true;
            string host = entry.Uri.StartsWith("https://", ignoreCase) ? entry.Uri.Substring("https://".Length) : entry.Uri;
            return host.StartsWith(word, ignoreCase);
        }
    }
}
