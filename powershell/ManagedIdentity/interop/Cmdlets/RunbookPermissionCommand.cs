// Shared by Get- and Test-RunbookPermission: -Path (files, wildcards, pipeline FullName) or
// -ScriptBlock, parsed by PowerShell's own parser into call-site facts (RunbookScript), and the
// Microsoft Graph PowerShell command map to send along.
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace ManagedIdentity.Interop.Commands
{
    public abstract class RunbookPermissionCommand : EngineCmdlet
    {
        private readonly List<Hashtable> scripts = new List<Hashtable>();

        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ValidateNotNullOrEmpty]
        public string[] Path { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = "ScriptBlock")]
        public ScriptBlock ScriptBlock { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string CommandMetadataPath { get; set; }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == "ScriptBlock")
            {
                string file = string.IsNullOrEmpty(ScriptBlock.File) ? "<ScriptBlock>" : ScriptBlock.File;
                scripts.Add(RunbookScript.FromAst(ScriptBlock.Ast, file));
                return;
            }
            foreach (string given in Path)
            {
                ProviderInfo provider;
                List<string> resolved;
                try
                {
                    resolved = new List<string>(GetResolvedProviderPathFromPSPath(given, out provider));
                }
                catch (ItemNotFoundException)
                {
                    WriteError(ErrorRecords.Create("ManagedIdentity.NotFound", "NotFound", "ObjectNotFound", "The script '" + given + "' does not exist.", null, given));
                    continue;
                }
                foreach (string file in resolved)
                {
                    ErrorRecord error;
                    Hashtable facts = RunbookScript.FromFile(file, out error);
                    if (error != null) ThrowTerminatingError(error);
                    scripts.Add(facts);
                }
            }
        }

        /// <summary>The scripts read so far; the arguments every runbook operation carries.</summary>
        internal Hashtable ScriptArguments()
        {
            var arguments = new Hashtable();
            arguments["scripts"] = scripts.ToArray();
            string map = null;
            if (CommandMetadataPath != null) map = GetUnresolvedProviderPathFromPSPath(CommandMetadataPath);
            else if (RunbookScript.NamesMgCommand(scripts)) map = RunbookScript.FindCommandMetadata(this);
            if (map != null) arguments["commandMetadataPath"] = map;
            return arguments;
        }

        internal bool HasScripts { get { return scripts.Count > 0; } }
    }
}
