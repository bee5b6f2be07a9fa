// Loads the Rust engine from the module folder: runtimes/<rid>/native/<lib>, on the first engine
// call (importing the module runs no code of this assembly).
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
        // Why the engine file could not be loaded, once tried: a load is not retried in this
        // process (Wine hangs on a second load of a damaged DLL; Windows would fail the same way).
        private static DllNotFoundException loadFailure;
        // The engine's handle from NativeLibrary.Load (.NET Core), handed to every DllImport.
        private static IntPtr handle;

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

        /// <summary>Remembers where the module lives (the folder holding runtimes/); loads
        /// nothing. Without it the first engine call uses the folder above this assembly's bin/.</summary>
        public static void Register(string moduleRoot)
        {
            lock (Gate)
            {
                if (root == null) root = moduleRoot;
            }
        }

        /// <summary>Kept for scripts of earlier versions: registers, then loads the engine.</summary>
        public static void Initialize(string moduleRoot)
        {
            Register(moduleRoot);
            EnsureLoaded();
        }

        /// <summary>Loads the engine on first use and checks its ABI version. Idempotent.
        /// Importing the module runs none of this (no module initializer): the first engine
        /// call pays for the resolver, the library load and the ABI check.</summary>
        internal static void EnsureLoaded()
        {
            if (loaded) return;
            lock (Gate)
            {
                if (loaded) return;
                // The assembly lives in <module>/bin.
                if (root == null) root = Path.GetDirectoryName(Path.GetDirectoryName(typeof(NativeLoader).Assembly.Location));
                string folder = Path.Combine(Path.Combine(Path.Combine(root, "runtimes"), RuntimeIdentifier), "native");
                string path = Path.Combine(folder, FileName);
                if (loadFailure != null)
                {
                    throw new DllNotFoundException(loadFailure.Message + " (After reinstalling, start a new PowerShell session.)", loadFailure);
                }
                if (!File.Exists(path))
                {
                    throw new PlatformNotSupportedException(
                        "The ManagedIdentity engine for " + RuntimeIdentifier + " is not in this module: " + FileName + " was not found in " + folder + ".");
                }
                try
                {
                    if (!LoadWithNativeLibrary(path) && LoadLibraryW(path) == IntPtr.Zero)
                    {
                        throw new DllNotFoundException(CannotLoad(path, "Windows error " + Marshal.GetLastWin32Error()));
                    }
                }
                catch (Exception e) when (e is DllNotFoundException || e is BadImageFormatException || e is TargetInvocationException)
                {
                    // NativeLibrary.Load's own failure arrives wrapped by the reflection call.
                    Exception reason = e is TargetInvocationException && e.InnerException != null ? e.InnerException : e;
                    loadFailure = reason.Message.StartsWith("Cannot load the ManagedIdentity engine", StringComparison.Ordinal) && reason is DllNotFoundException
                        ? (DllNotFoundException)reason
                        : new DllNotFoundException(CannotLoad(path, reason.Message), reason);
                    throw loadFailure;
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

        /// <summary>.NET Core: loads the library by its full path and points this assembly's
        /// DllImports at it (NativeLibrary, reached by reflection because this assembly targets
        /// netstandard2.0). False on .NET Framework, which has no NativeLibrary.</summary>
        private static bool LoadWithNativeLibrary(string path)
        {
            if (handle != IntPtr.Zero) return true;
            Type nativeLibrary = Type.GetType("System.Runtime.InteropServices.NativeLibrary", false);
            if (nativeLibrary == null) return false;
            handle = (IntPtr)nativeLibrary.GetMethod("Load", new[] { typeof(string) }).Invoke(null, new object[] { path });
            Type resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver", true);
            MethodInfo resolve = typeof(NativeLoader).GetMethod("Resolve", BindingFlags.NonPublic | BindingFlags.Static);
            try
            {
                nativeLibrary.GetMethod("SetDllImportResolver").Invoke(null, new object[] { typeof(NativeMethods).Assembly, Delegate.CreateDelegate(resolverType, resolve) });
            }
            catch (TargetInvocationException e)
            {
                // A resolver already set for this assembly (e.g. the module was re-imported) is fine.
                if (!(e.InnerException is InvalidOperationException)) throw;
            }
            return true;
        }

        /// <summary>One message for an engine that exists but cannot be loaded: the file, the
        /// loader's reason and what the engine needs (Rust's standard library imports Windows 10
        /// APIs such as bcryptprimitives.dll!ProcessPrng, so older Windows cannot load it).</summary>
        private static string CannotLoad(string path, string reason)
        {
            string needs = RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
                ? "The engine needs 64-bit Windows 10 or Windows Server 2016 or later (older Windows lacks functions it imports, such as bcryptprimitives.dll!ProcessPrng); a damaged or partial copy of the file fails the same way: reinstall the module."
                : "The file may be damaged or built for another system: reinstall the module.";
            return "Cannot load the ManagedIdentity engine from " + path + ": " + reason.Trim() + " " + needs;
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            return name == NativeMethods.NativeLib ? handle : IntPtr.Zero;
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryW(string path);
    }
}
