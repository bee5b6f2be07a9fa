// JSON between the module and the engine, identical in Windows PowerShell 5.1 and PowerShell 7
// (5.1's ConvertFrom-Json caps input at 2 MB and unrolls arrays differently; both editions'
// cmdlets also cost a module auto-load on first use). Objects parse into JsonObject for the
// interop layer (ParseTree) or into PSCustomObjects, as ConvertFrom-Json makes them (Parse);
// arrays into object[]; numbers into long or double.
using System;
using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Text;

namespace ManagedIdentity.Interop
{
    public static class Json
    {
        /// <summary>Serializes dictionaries, lists, strings, numbers, booleans and null.</summary>
        public static string Serialize(object value)
        {
            var text = new StringBuilder(256);
            Write(text, value, 0);
            return text.ToString();
        }

        /// <summary>Parses one JSON document into PowerShell values (objects as PSCustomObjects).</summary>
        public static object Parse(string text)
        {
            return ToPowerShell(ParseTree(text));
        }

        /// <summary>Parses one JSON document for the interop layer's own reading: objects as
        /// JsonObject, arrays as object[], numbers as long or double.</summary>
        public static object ParseTree(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            int position = 0;
            object value = ReadValue(text, ref position, 0);
            SkipWhitespace(text, ref position);
            if (position != text.Length) throw Malformed(position, "trailing characters");
            return value;
        }

        /// <summary>A parsed value as PowerShell shows it: every JsonObject, also inside arrays,
        /// becomes a PSCustomObject with its properties in document order.</summary>
        public static object ToPowerShell(object value)
        {
            var json = value as JsonObject;
            if (json != null)
            {
                var result = new PSObject();
                for (int i = 0; i < json.Count; i++) result.Properties.Add(new PSNoteProperty(json.NameAt(i), ToPowerShell(json.ValueAt(i))));
                return result;
            }
            var array = value as object[];
            if (array == null) return value;
            var converted = new object[array.Length];
            for (int i = 0; i < array.Length; i++) converted[i] = ToPowerShell(array[i]);
            return converted;
        }

        private const int MaxDepth = 64;

        private static void Write(StringBuilder text, object value, int depth)
        {
            if (depth > MaxDepth) throw new ArgumentException("The value is nested too deeply to serialize.");
            var wrapped = value as PSObject;
            if (wrapped != null) value = wrapped.BaseObject is PSCustomObject ? (object)wrapped : wrapped.BaseObject;
            if (value == null) { text.Append("null"); return; }
            if (value is string || value is char || value is Guid || value is Uri || value is Enum) { WriteString(text, value.ToString()); return; }
            if (value is bool) { text.Append((bool)value ? "true" : "false"); return; }
            if (value is DateTime) { WriteString(text, ((DateTime)value).ToUniversalTime().ToString("o", CultureInfo.InvariantCulture)); return; }
            if (value is DateTimeOffset) { WriteString(text, ((DateTimeOffset)value).ToString("o", CultureInfo.InvariantCulture)); return; }
            if (value is sbyte || value is byte || value is short || value is ushort || value is int || value is uint || value is long || value is ulong)
            {
                text.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                return;
            }
            if (value is float || value is double || value is decimal)
            {
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException("NaN and infinity have no JSON form.");
                text.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return;
            }
            var dictionary = value as IDictionary;
            if (dictionary != null)
            {
                text.Append('{');
                bool first = true;
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (!first) text.Append(',');
                    first = false;
                    WriteString(text, Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                    text.Append(':');
                    Write(text, entry.Value, depth + 1);
                }
                text.Append('}');
                return;
            }
            var custom = value as PSObject;
            if (custom != null)
            {
                text.Append('{');
                bool first = true;
                foreach (PSPropertyInfo property in custom.Properties)
                {
                    if (!first) text.Append(',');
                    first = false;
                    WriteString(text, property.Name);
                    text.Append(':');
                    Write(text, property.Value, depth + 1);
                }
                text.Append('}');
                return;
            }
            var list = value as IEnumerable;
            if (list != null)
            {
                text.Append('[');
                bool first = true;
                foreach (object item in list)
                {
                    if (!first) text.Append(',');
                    first = false;
                    Write(text, item, depth + 1);
                }
                text.Append(']');
                return;
            }
            throw new ArgumentException("A value of type " + value.GetType().FullName + " has no JSON form here.");
        }

        private static void WriteString(StringBuilder text, string value)
        {
            text.Append('"');
            foreach (char c in value)
            {
                switch (c)
                {
                    case '"': text.Append("\\\""); break;
                    case '\\': text.Append("\\\\"); break;
                    case '\n': text.Append("\\n"); break;
                    case '\r': text.Append("\\r"); break;
                    case '\t': text.Append("\\t"); break;
                    default:
                        if (c < ' ') text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else text.Append(c);
                        break;
                }
            }
            text.Append('"');
        }

        private static object ReadValue(string text, ref int position, int depth)
        {
            if (depth > MaxDepth) throw Malformed(position, "nesting too deep");
            SkipWhitespace(text, ref position);
            if (position >= text.Length) throw Malformed(position, "unexpected end");
            char c = text[position];
            switch (c)
            {
                case '{': return ReadObject(text, ref position, depth);
                case '[': return ReadArray(text, ref position, depth);
                case '"': return ReadString(text, ref position);
                case 't': ExpectWord(text, ref position, "true"); return true;
                case 'f': ExpectWord(text, ref position, "false"); return false;
                case 'n': ExpectWord(text, ref position, "null"); return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber(text, ref position);
                    throw Malformed(position, "unexpected character '" + c + "'");
            }
        }

        private static JsonObject ReadObject(string text, ref int position, int depth)
        {
            var result = new JsonObject();
            position++; // {
            SkipWhitespace(text, ref position);
            if (position < text.Length && text[position] == '}') { position++; return result; }
            while (true)
            {
                SkipWhitespace(text, ref position);
                if (position >= text.Length || text[position] != '"') throw Malformed(position, "expected a property name");
                string name = ReadString(text, ref position);
                SkipWhitespace(text, ref position);
                if (position >= text.Length || text[position] != ':') throw Malformed(position, "expected ':'");
                position++;
                object value = ReadValue(text, ref position, depth + 1);
                result.Set(name, value);
                SkipWhitespace(text, ref position);
                if (position >= text.Length) throw Malformed(position, "unexpected end in an object");
                if (text[position] == ',') { position++; continue; }
                if (text[position] == '}') { position++; return result; }
                throw Malformed(position, "expected ',' or '}'");
            }
        }

        private static object[] ReadArray(string text, ref int position, int depth)
        {
            var items = new ArrayList();
            position++; // [
            SkipWhitespace(text, ref position);
            if (position < text.Length && text[position] == ']') { position++; return new object[0]; }
            while (true)
            {
                items.Add(ReadValue(text, ref position, depth + 1));
                SkipWhitespace(text, ref position);
                if (position >= text.Length) throw Malformed(position, "unexpected end in an array");
                if (text[position] == ',') { position++; continue; }
                if (text[position] == ']') { position++; return items.ToArray(); }
                throw Malformed(position, "expected ',' or ']'");
            }
        }

        private static string ReadString(string text, ref int position)
        {
            int start = ++position; // after the opening quote
            int end = text.IndexOf('"', start);
            if (end < 0) throw Malformed(start, "unterminated string");
            int escape = text.IndexOf('\\', start, end - start);
            if (escape < 0)
            {
                // No escape before the closing quote (almost every string): one allocation.
                position = end + 1;
                return text.Substring(start, end - start);
            }
            var value = new StringBuilder(end - start + 16);
            value.Append(text, start, escape - start);
            position = escape;
            while (position < text.Length)
            {
                char c = text[position++];
                if (c == '"') return value.ToString();
                if (c != '\\') { value.Append(c); continue; }
                if (position >= text.Length) break;
                char escaped = text[position++];
                switch (escaped)
                {
                    case '"': value.Append('"'); break;
                    case '\\': value.Append('\\'); break;
                    case '/': value.Append('/'); break;
                    case 'b': value.Append('\b'); break;
                    case 'f': value.Append('\f'); break;
                    case 'n': value.Append('\n'); break;
                    case 'r': value.Append('\r'); break;
                    case 't': value.Append('\t'); break;
                    case 'u':
                        if (position + 4 > text.Length) throw Malformed(position, "short \\u escape");
                        value.Append((char)int.Parse(text.Substring(position, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        position += 4;
                        break;
                    default: throw Malformed(position, "unknown escape");
                }
            }
            throw Malformed(position, "unterminated string");
        }

        private static object ReadNumber(string text, ref int position)
        {
            int start = position;
            bool integral = true;
            while (position < text.Length)
            {
                char c = text[position];
                if (c >= '0' && c <= '9' || c == '-' || c == '+') { position++; continue; }
                if (c == '.' || c == 'e' || c == 'E') { integral = false; position++; continue; }
                break;
            }
            string token = text.Substring(start, position - start);
            long whole;
            if (integral && long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out whole)) return whole;
            double real;
            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out real)) return real;
            throw Malformed(start, "bad number");
        }

        private static void ExpectWord(string text, ref int position, string word)
        {
            if (string.CompareOrdinal(text, position, word, 0, word.Length) != 0) throw Malformed(position, "expected " + word);
            position += word.Length;
        }

        private static void SkipWhitespace(string text, ref int position)
        {
            while (position < text.Length && (text[position] == ' ' || text[position] == '\t' || text[position] == '\n' || text[position] == '\r')) position++;
        }

        private static FormatException Malformed(int position, string problem)
        {
            return new FormatException("The engine's answer is not valid JSON at offset " + position + ": " + problem + ".");
        }
    }
}
