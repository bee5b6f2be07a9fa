// Export-GraphAppRoleReport: writes report rows to CSV or JSON with a stable column order (for
// change tracking in git): one row per line, the columns below, "\n" lines; CSV in UTF-8 with a
// BOM (Excel on Windows reads a CSV without one in the ANSI code page), JSON in UTF-8 without.
// Import-Csv / ConvertFrom-Json read the files back; a JSON export is also a -Baseline.
using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Text;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsData.Export, "GraphAppRoleReport")]
    [OutputType(typeof(FileInfo))]
    public sealed class ExportGraphAppRoleReportCommand : PSCmdlet
    {
        /// <summary>The export's columns, in order (the engine's row properties).</summary>
        public static readonly string[] Columns =
        {
            "IdentityName", "IdentityId", "IdentityAppId", "PrincipalType", "ArmResourceId",
            "Resource", "ResourceId", "ResourceAppId", "Permission", "PermissionId", "RiskLevel",
            "AssignmentId", "CreatedDateTime", "Drift",
        };

        private readonly List<PSObject> rows = new List<PSObject>();

        [Parameter(Mandatory = true, ValueFromPipeline = true)]
        public PSObject InputObject { get; set; }

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; }

        /// <summary>Csv or Json; by default from the file extension (.json → Json, else Csv).</summary>
        [Parameter]
        [ValidateSet("Csv", "Json")]
        public string Format { get; set; }

        protected override void ProcessRecord()
        {
            if (InputObject != null) rows.Add(InputObject);
        }

        protected override void EndProcessing()
        {
            string full = GetUnresolvedProviderPathFromPSPath(Path);
            string format = Format;
            if (string.IsNullOrEmpty(format))
                format = full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? "Json" : "Csv";
            string text = format == "Json" ? ToJson() : ToCsv();
            try
            {
                File.WriteAllText(full, text, new UTF8Encoding(format == "Csv"));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException || e is NotSupportedException)
            {
                ThrowTerminatingError(ErrorRecords.Create("ManagedIdentity.InvalidArgument", "InvalidArgument", "WriteError",
                    string.Format("Cannot write the report file '{0}': {1}", full, e.Message), null, full));
            }
            WriteObject(new FileInfo(full));
        }

        private static object Value(PSObject row, string column)
        {
            PSPropertyInfo p = row.Properties[column];
            return p == null ? null : p.Value;
        }

        private static string Text(object value)
        {
            if (value == null) return "";
            var wrapped = value as PSObject;
            if (wrapped != null) value = wrapped.BaseObject;
            return Convert.ToString(value, CultureInfo.InvariantCulture);
        }

        private string ToCsv()
        {
            var text = new StringBuilder();
            text.Append(string.Join(",", Array.ConvertAll(Columns, Quote))).Append('\n');
            foreach (PSObject row in rows)
            {
                var cells = new string[Columns.Length];
                for (int i = 0; i < Columns.Length; i++) cells[i] = Quote(Text(Value(row, Columns[i])));
                text.Append(string.Join(",", cells)).Append('\n');
            }
            return text.ToString();
        }

        private static string Quote(string cell)
        {
            return "\"" + cell.Replace("\"", "\"\"") + "\"";
        }

        private string ToJson()
        {
            var text = new StringBuilder();
            text.Append("[\n");
            for (int r = 0; r < rows.Count; r++)
            {
                var record = new OrderedDictionary();
                foreach (string column in Columns)
                {
                    object value = Value(rows[r], column);
                    record[column] = value == null ? null : Text(value);
                }
                text.Append("  ").Append(Json.Serialize(record)).Append(r + 1 < rows.Count ? ",\n" : "\n");
            }
            text.Append("]\n");
            return text.ToString();
        }
    }
}
