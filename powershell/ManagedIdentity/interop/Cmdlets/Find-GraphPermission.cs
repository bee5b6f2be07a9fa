// Find-GraphPermission: the permissions that allow one Microsoft Graph request (or each variant of
// a Microsoft Graph PowerShell command), from Microsoft's permission data embedded in the engine.
using System.Collections;
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Find, "GraphPermission", DefaultParameterSetName = "Uri")]
    [OutputType("ManagedIdentity.GraphPermission")]
    public sealed class FindGraphPermissionCommand : EngineCmdlet
    {
        private string method = "GET";

        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Uri", ValueFromPipelineByPropertyName = true)]
        [Alias("Url", "Path")]
        [ValidateNotNullOrEmpty]
        public string Uri { get; set; }

        [Parameter(Position = 1, ParameterSetName = "Uri", ValueFromPipelineByPropertyName = true)]
        [ValidateSet("GET", "POST", "PUT", "PATCH", "DELETE")]
        public string Method { get { return method; } set { method = value; } }

        [Parameter(Mandatory = true, ParameterSetName = "Command", ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Command { get; set; }

        [Parameter(ParameterSetName = "Command")]
        [ValidateNotNullOrEmpty]
        public string CommandMetadataPath { get; set; }

        protected override void ProcessRecord()
        {
            var arguments = new Hashtable();
            if (ParameterSetName == "Command")
            {
                arguments["command"] = Command;
                string map = CommandMetadataPath != null ? GetUnresolvedProviderPathFromPSPath(CommandMetadataPath) : RunbookScript.FindCommandMetadata(this);
                if (map != null) arguments["commandMetadataPath"] = map;
            }
            else
            {
                arguments["uri"] = Uri;
                arguments["method"] = Method.ToUpperInvariant();
            }
            InvokeEngine("permissions.find", arguments, itemTypeName: "ManagedIdentity.GraphPermission", target: ParameterSetName == "Command" ? Command : Uri);
        }
    }
}
