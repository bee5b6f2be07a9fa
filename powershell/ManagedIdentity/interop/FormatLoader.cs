// The module's format views (formats/*.format.ps1xml) are added to a runspace's format table on
// the first ManagedIdentity-typed object a cmdlet writes there, not at import: adding format data
// rebuilds the session's whole format table, which a runbook that only wants a token never needs
// (tokens and raw Graph responses do not trigger it). Until then, and if loading fails, output
// shows its default display properties (DisplayProperties).
using System;
using System.IO;
using System.Reflection;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace ManagedIdentity.Interop
{
    internal static class FormatLoader
    {
        private static readonly ConditionalWeakTable<Runspace, object> Loaded = new ConditionalWeakTable<Runspace, object>();
        private static readonly object Marker = new object();

        /// <summary>True for output whose first appearance loads the views: ManagedIdentity types
        /// other than the context. A runbook's cold path is Connect-Identity then
        /// Get-IdentityToken; the context it writes (usually discarded) must not pay the
        /// format-table rebuild. A context written before any other typed output shows its
        /// properties as a list; once the views are loaded, as their table.</summary>
        public static bool HasView(object item)
        {
            if (item is Context) return false;
            var pso = item as PSObject;
            if (pso == null) return false;
            if (pso.BaseObject is Context) return false;
            foreach (string name in pso.TypeNames)
            {
                if (name.StartsWith("ManagedIdentity.", StringComparison.Ordinal)) return true;
            }
            return false;
        }

        /// <summary>Update-FormatData's implementing type, from the assembly of PowerShell's
        /// Utility commands (same version and key as System.Management.Automation), or null.</summary>
        private static Type UpdateFormatDataCommand()
        {
            const string typeName = "Microsoft.PowerShell.Commands.UpdateFormatDataCommand";
            const string assemblyName = "Microsoft.PowerShell.Commands.Utility";
            try
            {
                foreach (Assembly loaded in AppDomain.CurrentDomain.GetAssemblies())
                {
                    if (loaded.GetName().Name == assemblyName) return loaded.GetType(typeName, false);
                }
                AssemblyName automation = typeof(PSCmdlet).Assembly.GetName();
                var name = new AssemblyName(assemblyName) { Version = automation.Version, CultureInfo = System.Globalization.CultureInfo.InvariantCulture };
                name.SetPublicKeyToken(automation.GetPublicKeyToken());
                return Assembly.Load(name).GetType(typeName, false);
            }
            catch (Exception)
            {
                return null;
            }
        }

        /// <summary>Loads the views into the cmdlet's runspace once; silent on failure.</summary>
        public static void EnsureLoaded(PSCmdlet cmdlet)
        {
            Runspace runspace = Runspace.DefaultRunspace;
            if (runspace == null) return;
            lock (Loaded)
            {
                object seen;
                if (Loaded.TryGetValue(runspace, out seen)) return;
                Loaded.Add(runspace, Marker);
            }
            try
            {
                string folder = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(typeof(FormatLoader).Assembly.Location)), "formats");
                if (!Directory.Exists(folder)) return;
                string[] files = Directory.GetFiles(folder, "*.format.ps1xml");
                if (files.Length == 0) return;
                Array.Sort(files, StringComparer.Ordinal);
                Type command = UpdateFormatDataCommand();
                if (command == null)
                {
                    cmdlet.InvokeCommand.InvokeScript(
                        "param([string[]] $Path) Microsoft.PowerShell.Utility\\Update-FormatData -AppendPath $Path",
                        false, PipelineResultTypes.None, null, new object[] { files });
                    return;
                }
                // The cmdlet by its type: no import of the Microsoft.PowerShell.Utility module
                // (measured: that import costs as much as the format-table rebuild itself).
                using (PowerShell nested = PowerShell.Create(RunspaceMode.CurrentRunspace))
                {
                    nested.AddCommand(new CmdletInfo("Update-FormatData", command)).AddParameter("AppendPath", files);
                    nested.Invoke();
                }
            }
            catch (Exception)
            {
                // A restricted runspace may refuse Update-FormatData: the objects still show
                // their default display properties.
            }
        }
    }
}
