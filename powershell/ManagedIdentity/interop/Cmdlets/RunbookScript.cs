// What PowerShell's own parser finds in a runbook, handed to the engine as plain facts: every
// command call (name, line, each element as a parameter, a value or a splat; each value as
// literal text, variables and unknown parts) and every simple variable assignment (including
// hashtables for splatting, foreach variables and parameter defaults). No decisions about Graph
// are made here: the engine resolves variables, binds parameters and looks up permissions.
// Hostile input is bounded before the parser sees it: size, bracket nesting, syntax errors.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text;

namespace ManagedIdentity.Interop.Commands
{
    internal static class RunbookScript
    {
        /// <summary>Largest script analysed (a 2,000-line runbook is about 100 KB).</summary>
        public const long MaxBytes = 4L * 1024 * 1024;

        /// <summary>Deepest bracket nesting analysed (PowerShell's parser recurses per level).</summary>
        public const int MaxNesting = 100;

        /// <summary>Deepest value expression followed (a + b + c …).</summary>
        private const int MaxExpressionDepth = 32;

        /// <summary>Longest unknown-part text kept (for messages).</summary>
        private const int MaxUnknownText = 120;

        /// <summary>The facts of a script file; a terminating-ready ErrorRecord when it is refused.</summary>
        public static Hashtable FromFile(string path, out ErrorRecord error)
        {
            error = null;
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                error = ErrorRecords.Create("ManagedIdentity.NotFound", "NotFound", "ObjectNotFound", "The script '" + path + "' does not exist.", null, path);
                return null;
            }
            if (info.Length > MaxBytes)
            {
                error = ErrorRecords.Create("ManagedIdentity.ScriptTooLarge", "InvalidArgument", "LimitsExceeded",
                    "The script '" + path + "' is " + info.Length + " bytes; at most " + MaxBytes + " bytes are analysed.", null, path);
                return null;
            }
            string text = File.ReadAllText(path);
            return FromText(text, path, out error);
        }

        /// <summary>The facts of script text.</summary>
        public static Hashtable FromText(string text, string file, out ErrorRecord error)
        {
            error = null;
            if (Encoding.UTF8.GetByteCount(text) > MaxBytes)
            {
                error = ErrorRecords.Create("ManagedIdentity.ScriptTooLarge", "InvalidArgument", "LimitsExceeded",
                    "The script '" + file + "' is larger than " + MaxBytes + " bytes, the most that is analysed.", null, file);
                return null;
            }
            int line;
            int depth = Nesting(text, out line);
            if (depth > MaxNesting)
            {
                error = ErrorRecords.Create("ManagedIdentity.ScriptTooDeep", "InvalidArgument", "LimitsExceeded",
                    "The script '" + file + "' nests brackets more than " + MaxNesting + " levels deep (line " + line + "); it was not parsed.", null, file);
                return null;
            }
            Token[] tokens;
            ParseError[] errors;
            ScriptBlockAst ast = Parser.ParseInput(text, out tokens, out errors);
            if (errors != null && errors.Length > 0)
            {
                var shown = new List<string>();
                for (int i = 0; i < errors.Length && i < 3; i++)
                {
                    shown.Add("line " + errors[i].Extent.StartLineNumber + ": " + errors[i].Message);
                }
                error = ErrorRecords.Create("ManagedIdentity.ScriptParseError", "InvalidArgument", "ParserError",
                    "The script '" + file + "' has " + errors.Length + " syntax error(s), so it was not analysed: " + string.Join("; ", shown.ToArray()), null, file);
                return null;
            }
            return FromAst(ast, file);
        }

        /// <summary>The facts of a parsed script (a -ScriptBlock's own AST).</summary>
        public static Hashtable FromAst(Ast ast, string file)
        {
            var calls = new List<object>();
            var assignments = new List<object>();
            foreach (Ast node in ast.FindAll(n => n is CommandAst || n is AssignmentStatementAst || n is ForEachStatementAst || n is ParameterAst, true))
            {
                var command = node as CommandAst;
                if (command != null) { AddCall(command, calls); continue; }
                var assignment = node as AssignmentStatementAst;
                if (assignment != null) { AddAssignment(assignment, assignments); continue; }
                var loop = node as ForEachStatementAst;
                if (loop != null) { assignments.Add(Assignment(loop.Variable.VariablePath.UserPath, loop.Extent.StartOffset, Unknown(loop.Condition))); continue; }
                var parameter = (ParameterAst)node;
                object value = parameter.DefaultValue != null ? Parts(parameter.DefaultValue, 0) : Unknown(parameter);
                assignments.Add(Assignment(parameter.Name.VariablePath.UserPath, parameter.Extent.StartOffset, value));
            }
            var facts = new Hashtable();
            facts["file"] = file;
            facts["callSites"] = calls;
            facts["assignments"] = assignments;
            return facts;
        }

        private const int Code = 0, Double = 1, HereDouble = 2;

        /// <summary>The deepest bracket nesting outside comments and strings ($( ) inside
        /// double-quoted strings and here-strings counts), and the line where it is reached.
        /// Conservative where it cannot be sure: text PowerShell might read as code is counted
        /// (the smart quotes PowerShell accepts are quotes here too; # starts a comment only
        /// where a token can start; a here-string ends only at a line starting with its
        /// closing quote).</summary>
        public static int Nesting(string text, out int deepestLine)
        {
            int depth = 0, max = 0, line = 1;
            deepestLine = 1;
            // Each open bracket remembers the mode to return to when it closes.
            var stack = new Stack<int>();
            int mode = Code;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c == '\n') line++;
                if (mode != Code)
                {
                    if (c == '`') { if (i + 1 < text.Length && text[i + 1] == '\n') line++; i++; continue; }
                    if (mode == Double && IsDoubleQuote(c)) { mode = Code; continue; }
                    if (mode == HereDouble && c == '\n' && i + 1 < text.Length && IsDoubleQuote(text[i + 1]) && i + 2 < text.Length && text[i + 2] == '@')
                    {
                        mode = Code; i += 2; continue;
                    }
                    if (c == '$' && i + 1 < text.Length && text[i + 1] == '(')
                    {
                        stack.Push(mode); mode = Code; i++;
                        depth++;
                        if (depth > max) { max = depth; deepestLine = line; }
                    }
                    continue;
                }
                if (c == '`') { if (i + 1 < text.Length && text[i + 1] == '\n') line++; i++; continue; }
                bool tokenStart = i == 0 || char.IsWhiteSpace(text[i - 1]) || ";|&{}()=,".IndexOf(text[i - 1]) >= 0;
                if (c == '#' && tokenStart)
                {
                    while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                    continue;
                }
                if (c == '<' && tokenStart && i + 1 < text.Length && text[i + 1] == '#')
                {
                    int end = text.IndexOf("#>", i + 2, StringComparison.Ordinal);
                    int stop = end < 0 ? text.Length : end + 2;
                    for (int j = i; j < stop; j++) if (text[j] == '\n') line++;
                    i = stop - 1;
                    continue;
                }
                if (c == '@' && i + 1 < text.Length && (IsDoubleQuote(text[i + 1]) || IsSingleQuote(text[i + 1])) && RestOfLineBlank(text, i + 2))
                {
                    if (IsDoubleQuote(text[i + 1])) { mode = HereDouble; i++; continue; }
                    // @' … '@: literal to a line starting with '@.
                    int j = i + 2;
                    while (j < text.Length && !(text[j] == '\n' && j + 2 < text.Length && IsSingleQuote(text[j + 1]) && text[j + 2] == '@'))
                    {
                        if (text[j] == '\n') line++;
                        j++;
                    }
                    if (j < text.Length) line++;
                    i = Math.Min(text.Length, j + 2);
                    continue;
                }
                if (IsSingleQuote(c))
                {
                    int j = i + 1;
                    while (j < text.Length)
                    {
                        if (IsSingleQuote(text[j]))
                        {
                            if (j + 1 < text.Length && IsSingleQuote(text[j + 1])) { j += 2; continue; }
                            break;
                        }
                        if (text[j] == '\n') line++;
                        j++;
                    }
                    i = j;
                    continue;
                }
                if (IsDoubleQuote(c)) { mode = Double; continue; }
                if (c == '(' || c == '{' || c == '[')
                {
                    stack.Push(Code);
                    depth++;
                    if (depth > max) { max = depth; deepestLine = line; }
                }
                else if ((c == ')' || c == '}' || c == ']') && stack.Count > 0)
                {
                    mode = stack.Pop();
                    depth--;
                }
            }
            return max;
        }

        private static bool IsDoubleQuote(char c)
        {
            return c == '"' || c == '\u201C' || c == '\u201D' || c == '\u201E';
        }

        private static bool IsSingleQuote(char c)
        {
            return c == '\'' || c == '\u2018' || c == '\u2019' || c == '\u201A' || c == '\u201B';
        }

        /// <summary>Only white space up to the end of the line (a here-string's opening line).</summary>
        private static bool RestOfLineBlank(string text, int from)
        {
            for (int i = from; i < text.Length && text[i] != '\n'; i++)
            {
                if (!char.IsWhiteSpace(text[i])) return false;
            }
            return true;
        }

        private static void AddCall(CommandAst command, List<object> calls)
        {
            string name = command.GetCommandName();
            if (string.IsNullOrEmpty(name)) return;
            var elements = new List<object>();
            for (int i = 1; i < command.CommandElements.Count; i++)
            {
                CommandElementAst element = command.CommandElements[i];
                var entry = new Hashtable();
                var parameter = element as CommandParameterAst;
                var variable = element as VariableExpressionAst;
                if (parameter != null)
                {
                    entry["parameter"] = parameter.ParameterName;
                    if (parameter.Argument != null) entry["argument"] = Parts(parameter.Argument, 0);
                }
                else if (variable != null && variable.Splatted)
                {
                    entry["splat"] = variable.VariablePath.UserPath;
                }
                else
                {
                    var expression = element as ExpressionAst;
                    entry["value"] = expression != null ? Parts(expression, 0) : Unknown(element);
                }
                elements.Add(entry);
            }
            var call = new Hashtable();
            call["line"] = command.Extent.StartLineNumber;
            call["offset"] = command.Extent.StartOffset;
            call["command"] = name;
            call["elements"] = elements;
            calls.Add(call);
        }

        private static void AddAssignment(AssignmentStatementAst assignment, List<object> assignments)
        {
            ExpressionAst left = assignment.Left;
            var convert = left as ConvertExpressionAst;
            if (convert != null) left = convert.Child;
            var variable = left as VariableExpressionAst;
            if (variable == null) return;
            string name = variable.VariablePath.UserPath;
            int offset = assignment.Extent.StartOffset;
            ExpressionAst right = Expression(assignment.Right);
            if (assignment.Operator == TokenKind.PlusEquals)
            {
                var parts = new List<object> { Part("variable", name) };
                parts.AddRange(right != null ? Parts(right, 0) : Unknown(assignment.Right));
                assignments.Add(Assignment(name, offset, parts));
                return;
            }
            if (assignment.Operator != TokenKind.Equals)
            {
                assignments.Add(Assignment(name, offset, Unknown(assignment.Right)));
                return;
            }
            var table = right as HashtableAst;
            if (table != null)
            {
                var pairs = new List<object>();
                foreach (Tuple<ExpressionAst, StatementAst> pair in table.KeyValuePairs)
                {
                    var key = pair.Item1 as StringConstantExpressionAst;
                    if (key == null) continue;
                    ExpressionAst value = Expression(pair.Item2);
                    pairs.Add(new object[] { key.Value, value != null ? Parts(value, 0) : Unknown(pair.Item2) });
                }
                var entry = new Hashtable();
                entry["variable"] = name;
                entry["offset"] = offset;
                entry["table"] = pairs;
                assignments.Add(entry);
                return;
            }
            assignments.Add(Assignment(name, offset, right != null ? Parts(right, 0) : Unknown(assignment.Right)));
        }

        private static Hashtable Assignment(string name, int offset, object value)
        {
            var entry = new Hashtable();
            entry["variable"] = name;
            entry["offset"] = offset;
            entry["value"] = value;
            return entry;
        }

        /// <summary>The single expression of a statement (`$x = 'a'`), or null (a command).</summary>
        private static ExpressionAst Expression(StatementAst statement)
        {
            var direct = statement as CommandExpressionAst;
            if (direct != null) return direct.Expression;
            var pipeline = statement as PipelineAst;
            if (pipeline == null || pipeline.PipelineElements.Count != 1) return null;
            var expression = pipeline.PipelineElements[0] as CommandExpressionAst;
            return expression == null ? null : expression.Expression;
        }

        /// <summary>A value as parts: {text}, {variable} or {unknown}.</summary>
        private static List<object> Parts(ExpressionAst expression, int depth)
        {
            if (depth > MaxExpressionDepth) return Unknown(expression);
            var constant = expression as StringConstantExpressionAst;
            if (constant != null) return new List<object> { Part("text", constant.Value) };
            var expandable = expression as ExpandableStringExpressionAst;
            if (expandable != null) return Expandable(expandable);
            var variable = expression as VariableExpressionAst;
            if (variable != null && !variable.Splatted) return new List<object> { Part("variable", variable.VariablePath.UserPath) };
            var convert = expression as ConvertExpressionAst;
            if (convert != null) return Parts(convert.Child, depth + 1);
            var paren = expression as ParenExpressionAst;
            if (paren != null)
            {
                ExpressionAst inner = Expression(paren.Pipeline as StatementAst);
                return inner != null ? Parts(inner, depth + 1) : Unknown(expression);
            }
            var binary = expression as BinaryExpressionAst;
            if (binary != null && binary.Operator == TokenKind.Plus)
            {
                var parts = Parts(binary.Left, depth + 1);
                parts.AddRange(Parts(binary.Right, depth + 1));
                return parts;
            }
            return Unknown(expression);
        }

        /// <summary>"…$var…$(…)…": the text between nested expressions (backtick escapes undone)
        /// and each nested variable; other nested expressions are unknown.</summary>
        private static List<object> Expandable(ExpandableStringExpressionAst expandable)
        {
            string raw = expandable.Extent.Text;
            int start = expandable.Extent.StartOffset;
            int contentStart, contentEnd;
            if (raw.StartsWith("@", StringComparison.Ordinal))
            {
                int newline = raw.IndexOf('\n');
                contentStart = newline < 0 ? 2 : newline + 1;
                int close = raw.LastIndexOf('\n');
                contentEnd = close < contentStart ? contentStart : (close > 0 && raw[close - 1] == '\r' ? close - 1 : close);
            }
            else
            {
                contentStart = 1;
                contentEnd = Math.Max(1, raw.Length - 1);
            }
            var nested = new List<ExpressionAst>(expandable.NestedExpressions);
            nested.Sort((a, b) => a.Extent.StartOffset.CompareTo(b.Extent.StartOffset));
            var parts = new List<object>();
            int position = contentStart;
            foreach (ExpressionAst inner in nested)
            {
                int innerStart = inner.Extent.StartOffset - start;
                int innerEnd = inner.Extent.EndOffset - start;
                if (innerStart < position || innerEnd > contentEnd) continue;
                if (innerStart > position) parts.Add(Part("text", Unescape(raw.Substring(position, innerStart - position))));
                var variable = inner as VariableExpressionAst;
                if (variable != null) parts.Add(Part("variable", variable.VariablePath.UserPath));
                else parts.Add(Part("unknown", Clip(inner.Extent.Text)));
                position = innerEnd;
            }
            if (contentEnd > position) parts.Add(Part("text", Unescape(raw.Substring(position, contentEnd - position))));
            return parts;
        }

        private static string Unescape(string text)
        {
            if (text.IndexOf('`') < 0 && text.IndexOf("\"\"", StringComparison.Ordinal) < 0) return text;
            var value = new StringBuilder(text.Length);
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c == '`' && i + 1 < text.Length)
                {
                    char next = text[++i];
                    switch (next)
                    {
                        case 'n': value.Append('\n'); break;
                        case 'r': value.Append('\r'); break;
                        case 't': value.Append('\t'); break;
                        case '0': value.Append('\0'); break;
                        default: value.Append(next); break;
                    }
                }
                else if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    value.Append('"');
                    i++;
                }
                else value.Append(c);
            }
            return value.ToString();
        }

        private static List<object> Unknown(Ast ast)
        {
            return new List<object> { Part("unknown", ast == null ? string.Empty : Clip(ast.Extent.Text)) };
        }

        private static string Clip(string text)
        {
            return text.Length <= MaxUnknownText ? text : text.Substring(0, MaxUnknownText) + "…";
        }

        private static Hashtable Part(string kind, string value)
        {
            var part = new Hashtable(1);
            part[kind] = value ?? string.Empty;
            return part;
        }

        /// <summary>Any call site names a Microsoft Graph PowerShell command (*-Mg*): only then is
        /// the installed command map looked for.</summary>
        public static bool NamesMgCommand(IEnumerable<Hashtable> scripts)
        {
            foreach (Hashtable facts in scripts)
            {
                foreach (Hashtable call in (List<object>)facts["callSites"])
                {
                    string name = (string)call["command"];
                    if (name.IndexOf("-Mg", StringComparison.OrdinalIgnoreCase) >= 0) return true;
                }
            }
            return false;
        }

        /// <summary>custom/common/MgCommandMetadata.json of the newest installed
        /// Microsoft.Graph.Authentication, or null.</summary>
        public static string FindCommandMetadata(PSCmdlet cmdlet)
        {
            try
            {
                Version newest = null;
                string found = null;
                foreach (PSObject module in cmdlet.InvokeCommand.InvokeScript("Get-Module -ListAvailable -Name Microsoft.Graph.Authentication"))
                {
                    var info = module.BaseObject as PSModuleInfo;
                    if (info == null || info.ModuleBase == null) continue;
                    string path = Path.Combine(Path.Combine(Path.Combine(info.ModuleBase, "custom"), "common"), "MgCommandMetadata.json");
                    if (!File.Exists(path)) continue;
                    if (newest == null || info.Version > newest) { newest = info.Version; found = path; }
                }
                return found;
            }
            catch (RuntimeException)
            {
                return null;
            }
        }
    }
}
