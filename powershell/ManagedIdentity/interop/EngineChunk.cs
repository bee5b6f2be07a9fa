// One polled answer of a running operation, sorted for the PowerShell layer so that relaying it
// costs a few calls per chunk instead of several per event: output items (already carrying the
// command's type name), the failed ones among them, warnings, verbose lines, progress records,
// and — once done — the result or the error.
using System.Collections.Generic;
using System.Management.Automation;

namespace ManagedIdentity.Interop
{
    public sealed class EngineChunk
    {
        public bool Done { get; private set; }
        /// <summary>The result as parsed (JsonObject for an object); see Result.</summary>
        public object RawResult { get; private set; }
        /// <summary>The result as PowerShell shows it (PSCustomObject for an object).</summary>
        public object Result { get { return Json.ToPowerShell(RawResult); } }
        public PSObject Error { get; private set; }
        public List<object> Items { get; private set; }
        public List<PSObject> FailedItems { get; private set; }
        public List<string> Warnings { get; private set; }
        public List<string> Verbose { get; private set; }
        public List<ProgressRecord> Progress { get; private set; }

        private EngineChunk()
        {
            Items = new List<object>();
            FailedItems = new List<PSObject>();
            Warnings = new List<string>();
            Verbose = new List<string>();
            Progress = new List<ProgressRecord>();
        }

        /// <summary>Parses a chunk {"events":[...],"done":bool,"result"|"error"}. When
        /// itemTypeName is given, object items get it as their first type name, and items whose
        /// Error property is set are also listed in FailedItems.</summary>
        public static EngineChunk Parse(string json, string itemTypeName)
        {
            var chunk = new EngineChunk();
            var root = Json.ParseTree(json) as JsonObject;
            if (root == null) throw new System.FormatException("The engine's answer is not a JSON object.");
            chunk.Done = root["done"] is bool && (bool)root["done"];
            chunk.RawResult = root["result"];
            chunk.Error = Json.ToPowerShell(root["error"]) as PSObject;
            var events = root["events"] as object[];
            if (events == null) return chunk;
            foreach (object entry in events)
            {
                var e = entry as JsonObject;
                if (e == null) continue;
                switch (e["type"] as string)
                {
                    case "item":
                        object raw = e["item"];
                        object item = Json.ToPowerShell(raw);
                        var typed = item as PSObject;
                        if (typed != null && !string.IsNullOrEmpty(itemTypeName))
                        {
                            typed.TypeNames.Insert(0, itemTypeName);
                            DisplayProperties.Attach(typed, itemTypeName);
                            if (((JsonObject)raw)["Error"] != null) chunk.FailedItems.Add(typed);
                        }
                        chunk.Items.Add(item);
                        break;
                    case "warning":
                        chunk.Warnings.Add(e["message"] as string);
                        break;
                    case "verbose":
                        chunk.Verbose.Add(e["message"] as string);
                        break;
                    case "progress":
                        var record = new ProgressRecord(1, (e["activity"] as string) ?? "ManagedIdentity", (e["status"] as string) ?? " ");
                        object percent = e["percent"];
                        if (percent is long && (long)percent >= 0) record.PercentComplete = (int)System.Math.Min(100L, (long)percent);
                        if (e["completed"] is bool && (bool)e["completed"]) record.RecordType = ProgressRecordType.Completed;
                        chunk.Progress.Add(record);
                        break;
                }
            }
            return chunk;
        }
    }
}
