// Get-GraphAppRoleReport: every application permission held by every service principal of a
// kind, with risk levels (embedded table, -RiskTable overrides), drift against -Baseline, a
// summary by risk level (-Summary) and a self-contained HTML report (-HtmlPath). The engine
// streams the rows; this cmdlet reads the input files and writes the HTML file.
using System;
using System.Collections;
using System.IO;
using System.Management.Automation;
using System.Text;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "GraphAppRoleReport")]
    [OutputType("ManagedIdentity.AppRoleReportRow", "ManagedIdentity.AppRoleRiskSummary")]
    public sealed class GetGraphAppRoleReportCommand : EngineCmdlet
    {
        private string principalType = "ManagedIdentity";

        [Parameter(Position = 0)]
        [ValidateSet("ManagedIdentity", "Application", "All")]
        public string PrincipalType { get { return principalType; } set { principalType = value; } }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string RiskTable { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string Baseline { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string HtmlPath { get; set; }

        [Parameter]
        public SwitchParameter Summary { get; set; }

        [Parameter]
        [ValidateRange(1, 16)]
        public int Concurrency { get; set; }

        [Parameter]
        public Context Context { get; set; }

        protected override void EndProcessing()
        {
            Context context = ResolveContext(Context);
            var arguments = new Hashtable();
            arguments["context"] = context.Handle;
            arguments["principalType"] = PrincipalType;
            if (RiskTable != null) arguments["riskTable"] = ReadInput(RiskTable, "RiskTable");
            if (Baseline != null) arguments["baseline"] = ReadInput(Baseline, "Baseline");
            string html = null;
            if (HtmlPath != null)
            {
                html = GetUnresolvedProviderPathFromPSPath(HtmlPath);
                arguments["html"] = true;
            }
            if (Summary) arguments["summaryOnly"] = true;
            if (Concurrency > 0) arguments["concurrency"] = Concurrency;
            var result = InvokeEngine("graph.report", arguments, itemTypeName: "ManagedIdentity.AppRoleReportRow") as PSObject;
            if (result == null) return;
            if (html != null)
            {
                PSPropertyInfo text = result.Properties["Html"];
                if (text != null && text.Value != null) WriteFile(html, text.Value.ToString(), "HtmlPath");
            }
            if (Summary) WriteSummary(result);
        }

        /// <summary>One object per risk level (most severe first).</summary>
        private void WriteSummary(PSObject result)
        {
            PSPropertyInfo byRisk = result.Properties["ByRisk"];
            var levels = byRisk == null ? null : byRisk.Value as object[];
            if (levels == null) return;
            foreach (object level in levels)
            {
                var line = level as PSObject;
                if (line == null) continue;
                var item = new PSObject();
                item.TypeNames.Insert(0, "ManagedIdentity.AppRoleRiskSummary");
                item.Properties.Add(new PSNoteProperty("RiskLevel", line.Properties["RiskLevel"].Value));
                item.Properties.Add(new PSNoteProperty("Permissions", line.Properties["Assignments"].Value));
                item.Properties.Add(new PSNoteProperty("Identities", line.Properties["Identities"].Value));
                item.Properties.Add(new PSNoteProperty("Principals", result.Properties["Principals"].Value));
                DisplayProperties.Attach(item, "ManagedIdentity.AppRoleRiskSummary");
                WriteObject(item);
            }
        }

        private string ReadInput(string path, string parameter)
        {
            string full = GetUnresolvedProviderPathFromPSPath(path);
            try
            {
                return File.ReadAllText(full);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException || e is NotSupportedException)
            {
                ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "ReadError",
                    string.Format("Cannot read the -{0} file '{1}': {2}", parameter, full, e.Message), null, path));
                return null;
            }
        }

        internal void WriteFile(string full, string text, string parameter)
        {
            try
            {
                File.WriteAllText(full, text, new UTF8Encoding(false));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException || e is NotSupportedException)
            {
                ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "WriteError",
                    string.Format("Cannot write the -{0} file '{1}': {2}", parameter, full, e.Message), null, full));
            }
        }
    }
}
