// Loads the Rust engine from the module folder: runtimes/<rid>/native/<lib>, on the first engine
// call (importing the module only registers the resolver).
// .NET Core (PowerShell 7): NativeLibrary.SetDllImportResolver, reached by reflection because
// this assembly targets netstandard2.0. .NET Framework (Windows PowerShell 5.1): LoadLibraryW of
// the full path before the first P/Invoke, so DllImport finds the already-mapped module by name.
using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ManagedIdentity.Interop
{
    public static class NativeLoader
    {
        private static readonly object Gate = new object();
        private static string root;
        private static string libraryPath;
        private static volatile bool loaded;
        private static MethodInfo nativeLibraryLoad;

        /// <summary>The full path of the engine library this process uses.</summary>
        public static string LibraryPath { get { return libraryPath; } }

        /// <summary>Runtime identifier of this process, e.g. linux-x64 or win-x64.</summary>
        public static string RuntimeIdentifier
        {
            get
            {
                string os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "win"
                    : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "osx" : "linux";
                string arch;
                switch (RuntimeInformation.ProcessArchitecture)
                {
                    case Architecture.Arm64: arch = "arm64"; break;
                    case Architecture.X86: arch = "x86"; break;
                    case Architecture.Arm: arch = "arm"; break;
                    default: arch = "x64"; break;
                }
                return os + "-" + arch;
            }
        }

        private static string FileName
        {
            get
            {
                if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return NativeMethods.NativeLib + ".dll";
                if (RuntimeInformation.IsOSPlatform(OSPlatform.OSX)) return "lib" + NativeMethods.NativeLib + ".dylib";
                return "lib" + NativeMethods.NativeLib + ".so";
            }
        }

        /// <summary>Module import: remembers where the engine lives and, on .NET Core, registers
        /// the DllImport resolver. Loads nothing: the engine is loaded by the first engine call.</summary>
        public static void Register(string moduleRoot)
        {
            lock (Gate)
            {
                if (root != null) return;
                root = moduleRoot;
                Type nativeLibrary = Type.GetType("System.Runtime.InteropServices.NativeLibrary", false);
                if (nativeLibrary == null) return;
                nativeLibraryLoad = nativeLibrary.GetMethod("Load", new[] { typeof(string) });
                Type resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver", true);
                MethodInfo resolve = typeof(NativeLoader).GetMethod("Resolve", BindingFlags.NonPublic | BindingFlags.Static);
                Delegate resolver = Delegate.CreateDelegate(resolverType, resolve);
                try
                {
                    nativeLibrary.GetMethod("SetDllImportResolver").Invoke(null, new object[] { typeof(NativeMethods).Assembly, resolver });
                }
                catch (TargetInvocationException e)
                {
                    // A resolver already set for this assembly (e.g. the module was re-imported) is fine.
                    if (!(e.InnerException is InvalidOperationException)) throw;
                }
            }
        }

        /// <summary>Kept for scripts of earlier versions: registers, then loads the engine.</summary>
        public static void Initialize(string moduleRoot)
        {
            Register(moduleRoot);
            EnsureLoaded();
        }

        /// <summary>Loads the engine on first use and checks its ABI version. Idempotent.</summary>
        internal static void EnsureLoaded()
        {
            if (loaded) return;
            lock (Gate)
            {
                if (loaded) return;
                if (root == null)
                {
                    // The assembly lives in <module>/bin.
                    Register(Path.GetDirectoryName(Path.GetDirectoryName(typeof(NativeLoader).Assembly.Location)));
                }
                string folder = Path.Combine(Path.Combine(Path.Combine(root, "runtimes"), RuntimeIdentifier), "native");
                string path = Path.Combine(folder, FileName);
                if (!File.Exists(path))
                {
                    throw new PlatformNotSupportedException(
                        "The ManagedIdentity engine for " + RuntimeIdentifier + " is not in this module: " + FileName + " was not found in " + folder + ".");
                }
                if (nativeLibraryLoad == null && LoadLibraryW(path) == IntPtr.Zero)
                {
                    throw new DllNotFoundException("Cannot load the ManagedIdentity engine from " + path + " (error " + Marshal.GetLastWin32Error() + ").");
                }
                libraryPath = path;
                uint abi = NativeMethods.mi_abi_version();
                if (abi != Engine.AbiVersion)
                {
                    throw new InvalidOperationException(
                        "The ManagedIdentity engine at " + path + " has ABI version " + abi + " but this module needs " + Engine.AbiVersion + "; reinstall the module.");
                }
                loaded = true;
            }
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (name != NativeMethods.NativeLib || libraryPath == null) return IntPtr.Zero;
            return (IntPtr)nativeLibraryLoad.Invoke(null, new object[] { libraryPath });
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryW(string path);
    }
}
