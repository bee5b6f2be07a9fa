// A JSON object as the engine sent it, for the interop layer's own reading (chunks, context
// descriptions): names in document order, values by name. Reading one costs a short ordinal
// search, where a PSObject's property lookup runs PowerShell's member resolution (type table,
// adapters), whose first use in a process costs several milliseconds on the cold path. Objects
// that reach the pipeline become PSCustomObjects through Json.ToPowerShell.
//
// Storage is two parallel arrays: most engine objects have a dozen properties or fewer, and a
// bulk command parses one object per result, so what each object allocates is what a command's
// output costs (a hashtable per object cost three times as much). Objects with many properties
// (a Graph object through Invoke-GraphApiRequest, or a hostile answer) get a name index, so
// reading stays linear in the object's size.
using System;
using System.Collections;

namespace ManagedIdentity.Interop
{
    public sealed class JsonObject
    {
        /// <summary>Above this many properties, names are looked up through an index.</summary>
        private const int IndexAbove = 16;

        private string[] names = new string[8];
        private object[] values = new object[8];
        private int count;
        private Hashtable index;

        /// <summary>The property names in document order (a copy).</summary>
        public ICollection Names
        {
            get
            {
                var copy = new string[count];
                Array.Copy(names, copy, count);
                return copy;
            }
        }

        /// <summary>How many properties the object has.</summary>
        public int Count { get { return count; } }

        /// <summary>The value of a property, or null when there is none.</summary>
        public object this[string name]
        {
            get
            {
                int at = IndexOf(name);
                return at < 0 ? null : values[at];
            }
        }

        /// <summary>True when the object has the property (even with a null value).</summary>
        public bool Contains(string name)
        {
            return IndexOf(name) >= 0;
        }

        /// <summary>The name of the property at a position (document order).</summary>
        internal string NameAt(int position) { return names[position]; }

        /// <summary>The value of the property at a position (document order).</summary>
        internal object ValueAt(int position) { return values[position]; }

        /// <summary>Sets a property; a repeated name keeps its first position and its last value.</summary>
        internal void Set(string name, object value)
        {
            int at = IndexOf(name);
            if (at >= 0)
            {
                values[at] = value;
                return;
            }
            if (count == names.Length)
            {
                Array.Resize(ref names, count * 2);
                Array.Resize(ref values, count * 2);
            }
            names[count] = name;
            values[count] = value;
            if (index != null) index[name] = count;
            count++;
            if (index == null && count > IndexAbove)
            {
                index = new Hashtable(count * 2, StringComparer.Ordinal);
                for (int i = 0; i < count; i++) index[names[i]] = i;
            }
        }

        /// <summary>The value of a property as text (invariant culture), or null.</summary>
        internal string Text(string name)
        {
            object value = this[name];
            return value == null ? null : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
        }

        private int IndexOf(string name)
        {
            if (name == null) return -1;
            if (index != null)
            {
                object at = index[name];
                return at == null ? -1 : (int)at;
            }
            for (int i = 0; i < count; i++)
            {
                if (string.Equals(names[i], name, StringComparison.Ordinal)) return i;
            }
            return -1;
        }
    }
}
