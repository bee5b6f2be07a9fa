// Get-RunbookPermission: every Microsoft Graph call site of a runbook with its least privileged
// permissions (parsed with PowerShell's parser; resolved and looked up in the engine).
using System.Management.Automation;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

namespace ManagedIdentity.Interop.Commands
{
    [Cmdlet(VerbsCommon.Get, "RunbookPermission", DefaultParameterSetName = "Path")]
    [OutputType("ManagedIdentity.RunbookCall")]
    public sealed class GetRunbookPermissionCommand : RunbookPermissionCommand
    {
        protected override void EndProcessing()
        {
            if (!HasScripts) return;
            InvokeEngine("permissions.analyze", ScriptArguments(), itemTypeName: "ManagedIdentity.RunbookCall");
        }
    }
}
