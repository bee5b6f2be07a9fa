// The managed face of the engine: starts operations, moves UTF-8 bytes, keeps secrets out of
// managed strings. No business logic lives here (that is rust/core); no JSON is parsed here.
using System;
using System.Collections;
using System.Runtime.InteropServices;
using System.Security;
using System.Text;

namespace ManagedIdentity.Interop
{
    /// <summary>Raised when the native boundary itself fails (not a business error).</summary>
    public class EngineException : Exception
    {
        public EngineStatus Status { get; private set; }
        public EngineException(EngineStatus status, string message) : base(message) { Status = status; }
    }

    internal static class Engine
    {
        /// <summary>The ABI version this assembly was built for (rust/ffi ABI_VERSION).</summary>
        public const uint AbiVersion = 2;

        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        /// <summary>Starts an operation from a JSON request; secret may be null.</summary>
        public static EngineOperation Start(string requestJson, SecureString secret)
        {
            NativeLoader.EnsureLoaded();
            byte[] request = Utf8.GetBytes(requestJson);
            byte[] secretBytes = SecureStringToUtf8(secret);
            try
            {
                ulong id;
                EngineStatus status = NativeMethods.mi_operation_start(request, secretBytes, out id);
                Check(status, "start an operation");
                return new EngineOperation(id);
            }
            finally
            {
                // The request may carry the environment snapshot (IDENTITY_HEADER).
                Array.Clear(request, 0, request.Length);
                Array.Clear(secretBytes, 0, secretBytes.Length);
            }
        }

        /// <summary>Frees an engine context (identity.disconnect), bounded and silent: used when
        /// the runspace that owns it closes.</summary>
        public static void ReleaseContext(ulong context)
        {
            try
            {
                using (EngineOperation operation = Start("{\"op\":\"identity.disconnect\",\"args\":{\"context\":" + context.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}}", null))
                {
                    for (int i = 0; i < 20; i++)
                    {
                        string chunk = operation.Poll(100);
                        if (chunk != null && chunk.Contains("\"done\":true")) return;
                    }
                }
            }
            catch (Exception)
            {
                // A closing runspace must not fail because the engine could not be reached.
            }
        }

        /// <summary>A fresh cached token as a read-only SecureString, or null when the caller must
        /// acquire one first (no I/O happens here). The engine's bytes are UTF-8.</summary>
        public static unsafe SecureString GetCachedToken(ulong context, string resource)
        {
            byte[] token = CachedTokenBytes(context, resource);
            if (token == null) return null;
            char[] chars = null;
            try
            {
                chars = Utf8.GetChars(token);
                // One copy into the SecureString: AppendChar per character costs ~0.3 ms per token.
                fixed (char* start = chars)
                {
                    var secure = new SecureString(start, chars.Length);
                    secure.MakeReadOnly();
                    return secure;
                }
            }
            finally
            {
                Array.Clear(token, 0, token.Length);
                if (chars != null) Array.Clear(chars, 0, chars.Length);
            }
        }

        /// <summary>The cached token as plain text (Get-IdentityToken -AsPlainText), or null.</summary>
        public static string GetCachedTokenAsPlainText(ulong context, string resource)
        {
            byte[] token = CachedTokenBytes(context, resource);
            if (token == null) return null;
            try { return Utf8.GetString(token); }
            finally { Array.Clear(token, 0, token.Length); }
        }

        private static byte[] CachedTokenBytes(ulong context, string resource)
        {
            NativeLoader.EnsureLoaded();
            byte[] resourceBytes = Utf8.GetBytes(resource ?? string.Empty);
            byte[] buffer = new byte[4096];
            while (true)
            {
                ulong length;
                EngineStatus status = NativeMethods.mi_cached_token(context, resourceBytes, buffer, out length);
                if (status == EngineStatus.NotCached) return null;
                if (status == EngineStatus.BufferTooSmall)
                {
                    Array.Clear(buffer, 0, buffer.Length);
                    buffer = new byte[(int)length];
                    continue;
                }
                Check(status, "read the token cache");
                byte[] token = new byte[(int)length];
                Buffer.BlockCopy(buffer, 0, token, 0, (int)length);
                Array.Clear(buffer, 0, buffer.Length);
                return token;
            }
        }

        /// <summary>Snapshot of the environment variables the engine reads, from this process's
        /// .NET environment (which is where $env: changes live), without the secret ones (they
        /// go into the secret object, issue 8.9).</summary>
        public static Hashtable EnvironmentSnapshot()
        {
            var snapshot = new Hashtable(StringComparer.Ordinal);
            string[] secret = SecretVariableNames();
            foreach (string name in EnvironmentVariableNames())
            {
                if (Array.IndexOf(secret, name) >= 0) continue;
                string value = Environment.GetEnvironmentVariable(name);
                if (!string.IsNullOrEmpty(value)) snapshot[name] = value;
            }
            return snapshot;
        }

        /// <summary>Adds the secret environment variables that are set to the secret object.</summary>
        public static void AddSecretVariables(SecretObject secret)
        {
            foreach (string name in SecretVariableNames())
            {
                string value = Environment.GetEnvironmentVariable(name);
                if (!string.IsNullOrEmpty(value)) secret.Add(name, value);
            }
        }

        private static string[] secretVariableNames;

        /// <summary>The names of the environment variables whose values are secrets (asked once
        /// per process, through a plain export: no operation, no JSON).</summary>
        private static string[] SecretVariableNames()
        {
            if (secretVariableNames == null) secretVariableNames = ReadNames(NativeMethods.mi_secret_environment_variable_names, "list the secret environment variables");
            return secretVariableNames;
        }

        private static string[] environmentVariableNames;

        private static string[] EnvironmentVariableNames()
        {
            if (environmentVariableNames == null) environmentVariableNames = ReadNames(NativeMethods.mi_environment_variable_names, "list environment variables");
            return environmentVariableNames;
        }

        private delegate EngineStatus NameListExport(byte[] buffer, out ulong length);

        /// <summary>A newline-separated UTF-8 list from an engine export.</summary>
        private static string[] ReadNames(NameListExport export, string what)
        {
            NativeLoader.EnsureLoaded();
            byte[] buffer = new byte[1024];
            while (true)
            {
                ulong length;
                EngineStatus status = export(buffer, out length);
                if (status == EngineStatus.BufferTooSmall) { buffer = new byte[(int)length]; continue; }
                Check(status, what);
                return Utf8.GetString(buffer, 0, (int)length).Split('\n');
            }
        }

        internal static void Check(EngineStatus status, string what)
        {
            switch (status)
            {
                case EngineStatus.Ok:
                    return;
                case EngineStatus.Panic:
                    throw new EngineException(status, "The ManagedIdentity engine hit a bug while trying to " + what + "; the process is unharmed.");
                case EngineStatus.EngineUnavailable:
                    throw new EngineException(status, "The ManagedIdentity engine could not start (runtime initialisation failed).");
                default:
                    throw new EngineException(status, "The ManagedIdentity engine could not " + what + ": " + status + ".");
            }
        }

        internal static byte[] SecureStringToUtf8(SecureString secret)
        {
            if (secret == null || secret.Length == 0) return new byte[0];
            IntPtr unmanaged = Marshal.SecureStringToGlobalAllocUnicode(secret);
            char[] chars = new char[secret.Length];
            try
            {
                Marshal.Copy(unmanaged, chars, 0, chars.Length);
                return Utf8.GetBytes(chars);
            }
            finally
            {
                Array.Clear(chars, 0, chars.Length);
                Marshal.ZeroFreeGlobalAllocUnicode(unmanaged);
            }
        }

        internal static string Decode(byte[] buffer, int length)
        {
            return Utf8.GetString(buffer, 0, length);
        }
    }

    /// <summary>A running engine operation. Poll it with short waits (so the host can handle
    /// Ctrl+C between polls); Dispose cancels it if it is still running.</summary>
    internal sealed class EngineOperation : IDisposable
    {
        private readonly object gate = new object();
        private ulong id;
        private byte[] buffer = new byte[16 * 1024];

        internal EngineOperation(ulong id) { this.id = id; }

        /// <summary>Waits up to timeoutMilliseconds; returns the next JSON chunk
        /// ({"events":[...],"done":bool,"result"|"error"}) or null when nothing happened.</summary>
        public string Poll(int timeoutMilliseconds)
        {
            if (id == 0) throw new ObjectDisposedException("EngineOperation");
            while (true)
            {
                ulong length;
                EngineStatus status = NativeMethods.mi_operation_poll(id, (uint)Math.Max(0, timeoutMilliseconds), buffer, out length);
                if (status == EngineStatus.Pending) return null;
                if (status == EngineStatus.BufferTooSmall) { Array.Clear(buffer, 0, buffer.Length); buffer = new byte[(int)length]; continue; }
                Engine.Check(status, "poll an operation");
                return Engine.Decode(buffer, (int)length);
            }
        }

        /// <summary>Asks the engine to stop; the next poll reports the Cancelled error.</summary>
        public void Cancel()
        {
            // Called from another thread (StopProcessing) while the owner polls.
            lock (gate)
            {
                if (id != 0) NativeMethods.mi_operation_cancel(id);
            }
        }

        public void Dispose()
        {
            Release();
            GC.SuppressFinalize(this);
        }

        ~EngineOperation() { Release(); }

        private void Release()
        {
            lock (gate)
            {
                if (id != 0) NativeMethods.mi_operation_release(id);
                id = 0;
            }
        }
    }
}

namespace ManagedIdentity.Interop
{
    /// <summary>A typed engine error: ErrorId (stable), Kind, Category and optional details JSON.</summary>
    public class ManagedIdentityException : Exception
    {
        public string ErrorId { get; private set; }
        public string Kind { get; private set; }
        public string Category { get; private set; }
        public object Details { get; private set; }

        public ManagedIdentityException(string errorId, string kind, string category, string message, object details)
            : base(message)
        {
            ErrorId = errorId;
            Kind = kind;
            Category = category;
            Details = details;
        }
    }
}
