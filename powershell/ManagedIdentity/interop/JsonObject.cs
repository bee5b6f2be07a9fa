// A JSON object as the engine sent it, for the interop layer's own reading (chunks, context
// descriptions): names in document order, values by name. Reading one costs a hashtable lookup,
// where a PSObject's property lookup runs PowerShell's member resolution (type table, adapters),
// whose first use in a process costs several milliseconds on the cold path. Objects that reach
// the pipeline become PSCustomObjects through Json.ToPowerShell.
using System;
using System.Collections;

namespace ManagedIdentity.Interop
{
    public sealed class JsonObject
    {
        private readonly ArrayList names = new ArrayList();
        private readonly Hashtable values = new Hashtable(StringComparer.Ordinal);

        /// <summary>The property names in document order.</summary>
        public ICollection Names { get { return names; } }

        /// <summary>The value of a property, or null when there is none.</summary>
        public object this[string name] { get { return values[name]; } }

        /// <summary>True when the object has the property (even with a null value).</summary>
        public bool Contains(string name)
        {
            return values.ContainsKey(name);
        }

        /// <summary>Sets a property; a repeated name keeps its first position and its last value.</summary>
        internal void Set(string name, object value)
        {
            if (!values.ContainsKey(name)) names.Add(name);
            values[name] = value;
        }

        /// <summary>The value of a property as text (invariant culture), or null.</summary>
        internal string Text(string name)
        {
            object value = values[name];
            return value == null ? null : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
