// The operation's secret channel as a JSON object of named secret values (rust/core
// protocol/secret_fields.rs): built in a char buffer that is cleared on every growth and at the
// end, handed over as a read-only SecureString. Secret values never become managed strings here.
using System;
using System.Runtime.InteropServices;
using System.Security;

namespace ManagedIdentity.Interop
{
    internal sealed class SecretObject : IDisposable
    {
        private char[] buffer = new char[256];
        private int length;
        private bool empty = true;

        public SecretObject() { Append('{'); }

        public bool IsEmpty { get { return empty; } }

        /// <summary>A string field from plain text (an environment variable's value: the
        /// process already holds it as a string).</summary>
        public void Add(string name, string value)
        {
            if (value == null) return;
            Name(name);
            Append('"');
            foreach (char c in value) Escaped(c);
            Append('"');
        }

        /// <summary>A string field from a SecureString, copied character by character.</summary>
        public void Add(string name, SecureString value)
        {
            if (value == null) return;
            Name(name);
            Append('"');
            IntPtr unmanaged = Marshal.SecureStringToGlobalAllocUnicode(value);
            try
            {
                for (int i = 0; i < value.Length; i++) Escaped((char)Marshal.ReadInt16(unmanaged, i * 2));
            }
            finally
            {
                Marshal.ZeroFreeGlobalAllocUnicode(unmanaged);
            }
            Append('"');
        }

        /// <summary>A base64 string field from bytes (the bytes are not cleared here).</summary>
        public void AddBase64(string name, byte[] value)
        {
            if (value == null) return;
            Name(name);
            Append('"');
            char[] chars = new char[(value.Length + 2) / 3 * 4];
            try
            {
                int n = Convert.ToBase64CharArray(value, 0, value.Length, chars, 0);
                for (int i = 0; i < n; i++) Append(chars[i]);
            }
            finally
            {
                Array.Clear(chars, 0, chars.Length);
            }
            Append('"');
        }

        /// <summary>A nested object field.</summary>
        public void Add(string name, SecretObject value)
        {
            Name(name);
            value.Append('}');
            for (int i = 0; i < value.length; i++) Append(value.buffer[i]);
            value.length--;
        }

        /// <summary>The object as a read-only SecureString (null when it has no field).</summary>
        public unsafe SecureString ToSecureString()
        {
            if (empty) return null;
            Append('}');
            try
            {
                // One copy: AppendChar per character re-protects the whole buffer every time.
                fixed (char* start = buffer)
                {
                    var secure = new SecureString(start, length);
                    secure.MakeReadOnly();
                    return secure;
                }
            }
            finally
            {
                length--;
            }
        }

        public void Dispose()
        {
            Array.Clear(buffer, 0, buffer.Length);
            length = 0;
        }

        private void Name(string name)
        {
            if (!empty) Append(',');
            empty = false;
            Append('"');
            foreach (char c in name) Escaped(c);
            Append('"');
            Append(':');
        }

        private void Escaped(char c)
        {
            switch (c)
            {
                case '"': Append('\\'); Append('"'); return;
                case '\\': Append('\\'); Append('\\'); return;
            }
            if (c < 0x20)
            {
                const string hex = "0123456789abcdef";
                Append('\\'); Append('u'); Append('0'); Append('0');
                Append(hex[c >> 4]); Append(hex[c & 0xF]);
                return;
            }
            Append(c);
        }

        private void Append(char c)
        {
            if (length == buffer.Length)
            {
                char[] larger = new char[buffer.Length * 2];
                Array.Copy(buffer, larger, length);
                Array.Clear(buffer, 0, buffer.Length);
                buffer = larger;
            }
            buffer[length++] = c;
        }
    }
}
