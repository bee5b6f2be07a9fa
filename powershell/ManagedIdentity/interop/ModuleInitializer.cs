// Import-Module (of the manifest, or of the assembly by ManagedIdentity.ps1) runs this: it only
// records where the engine is. No native load, no engine runtime, no format-table rebuild here.
using System.IO;
using System.Management.Automation;

namespace ManagedIdentity.Interop
{
    public sealed class ModuleInitializer : IModuleAssemblyInitializer
    {
        public void OnImport()
        {
            // The assembly lives in <module>/bin.
            NativeLoader.Register(Path.GetDirectoryName(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)));
        }
    }
}
