// Base of every ManagedIdentity cmdlet: runs one engine operation (polling in short waits so
// Ctrl+C is honoured; StopProcessing cancels it in the engine), relays its warnings, verbose
// lines, progress and items, turns engine errors into ErrorRecords, and resolves -Context.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Security;

namespace ManagedIdentity.Interop.Commands
{
    public abstract class EngineCmdlet : PSCmdlet
    {
        private const int PollMilliseconds = 200;
        private readonly object gate = new object();
        private EngineOperation running;
        private volatile bool stopRequested;

        protected override void StopProcessing()
        {
            lock (gate)
            {
                stopRequested = true;
                if (running != null) running.Cancel();
            }
        }

        /// <summary>The explicit context if given (refused when it belongs to another runspace),
        /// else this runspace's current one; a terminating NotConnected error otherwise.</summary>
        internal Context ResolveContext(Context context)
        {
            Context resolved = ResolveContextOrNull(context);
            if (resolved == null) ThrowTerminatingError(ErrorRecords.NotConnected());
            return resolved;
        }

        /// <summary>As ResolveContext, but null when not connected.</summary>
        internal Context ResolveContextOrNull(Context context)
        {
            if (context == null) return ContextStore.Current;
            if (!ContextStore.OwnedByCaller(context)) ThrowTerminatingError(ErrorRecords.ForeignContext(context));
            return context;
        }

        /// <summary>Runs one engine operation and returns its result. Items are written to the
        /// pipeline as they arrive (typed with itemTypeName when given), or added to `collect`
        /// when given; failed items are also written as non-terminating errors; an operation
        /// error is terminating.</summary>
        internal object InvokeEngine(string operation, IDictionary arguments, SecureString secret = null, string itemTypeName = null, object target = null, List<object> collect = null)
        {
            return Json.ToPowerShell(InvokeEngineRaw(operation, arguments, secret, itemTypeName, target, collect));
        }

        /// <summary>As InvokeEngine, but the result as parsed (JsonObject for an object), for
        /// results this layer reads itself rather than writes to the pipeline.</summary>
        internal object InvokeEngineRaw(string operation, IDictionary arguments, SecureString secret = null, string itemTypeName = null, object target = null, List<object> collect = null)
        {
            var request = new Hashtable(2);
            request["op"] = operation;
            request["args"] = arguments ?? new Hashtable();
            EngineOperation op = Call(() => Engine.Start(Json.Serialize(request), secret));
            lock (gate)
            {
                running = op;
                if (stopRequested) op.Cancel();
            }
            var progressShown = new Dictionary<string, bool>();
            try
            {
                while (true)
                {
                    string text = op.Poll(PollMilliseconds);
                    if (text == null) continue;
                    EngineChunk chunk = EngineChunk.Parse(text, itemTypeName);
                    foreach (string message in chunk.Warnings) WriteWarning(message);
                    foreach (string message in chunk.Verbose) WriteVerbose(message);
                    foreach (ProgressRecord record in chunk.Progress)
                    {
                        progressShown[record.Activity] = record.RecordType != ProgressRecordType.Completed;
                        WriteProgress(record);
                    }
                    if (chunk.Items.Count > 0)
                    {
                        if (collect != null) collect.AddRange(chunk.Items);
                        else WriteObject(chunk.Items, true);
                    }
                    foreach (PSObject failed in chunk.FailedItems)
                    {
                        var error = failed.Properties["Error"].Value as PSObject;
                        if (error != null) WriteError(ErrorRecords.FromEngine(error, failed));
                    }
                    if (chunk.Done)
                    {
                        if (chunk.Error != null)
                        {
                            if (stopRequested || Stopping) throw new PipelineStoppedException();
                            ThrowTerminatingError(ErrorRecords.FromEngine(chunk.Error, target));
                        }
                        return chunk.RawResult;
                    }
                }
            }
            finally
            {
                lock (gate) running = null;
                op.Dispose();
                CompleteProgress(progressShown);
            }
        }

        /// <summary>Completed records for every activity still shown (also when stopped).</summary>
        private void CompleteProgress(Dictionary<string, bool> progressShown)
        {
            foreach (KeyValuePair<string, bool> activity in progressShown)
            {
                if (!activity.Value) continue;
                var done = new ProgressRecord(1, activity.Key, "Stopped") { RecordType = ProgressRecordType.Completed };
                try
                {
                    WriteProgress(done);
                }
                catch (PipelineStoppedException)
                {
                    // Stopping: the pipeline refuses writes, the host still takes the record.
                    if (Host != null && Host.UI != null) Host.UI.WriteProgress(0, done);
                }
            }
        }

        /// <summary>A direct engine call; an engine that cannot be loaded or reached is a
        /// terminating ManagedIdentity.EngineUnavailable error naming the reason.</summary>
        internal T Call<T>(Func<T> call)
        {
            try
            {
                return call();
            }
            catch (Exception e) when (e is EngineException || e is PlatformNotSupportedException || e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException || (e is InvalidOperationException && !(e is ObjectDisposedException)))
            {
                ThrowTerminatingError(ErrorRecords.EngineUnavailable(e));
                return default(T);
            }
        }

        /// <summary>The environment variables the engine reads, from this process.</summary>
        internal Hashtable EnvironmentSnapshot()
        {
            return Call(Engine.EnvironmentSnapshot);
        }

        /// <summary>A context object, owned by this runspace, for an engine description
        /// (identity.connect / identity.context result).</summary>
        internal static Context ContextFromDescription(JsonObject description)
        {
            object handle = description["Handle"];
            return ContextStore.Create(Convert.ToUInt64(handle, System.Globalization.CultureInfo.InvariantCulture), description);
        }

        /// <summary>Cmdlet.WriteObject, after loading the module's format views into this runspace
        /// when the object is the first ManagedIdentity-typed one (FormatLoader).</summary>
        internal new void WriteObject(object sendToPipeline)
        {
            if (FormatLoader.HasView(sendToPipeline)) FormatLoader.EnsureLoaded(this);
            base.WriteObject(sendToPipeline);
        }

        /// <summary>As WriteObject(object), for a collection.</summary>
        internal new void WriteObject(object sendToPipeline, bool enumerateCollection)
        {
            var items = sendToPipeline as System.Collections.IEnumerable;
            if (enumerateCollection && items != null)
            {
                foreach (object item in items)
                {
                    if (FormatLoader.HasView(item)) { FormatLoader.EnsureLoaded(this); break; }
                }
            }
            else if (FormatLoader.HasView(sendToPipeline))
            {
                FormatLoader.EnsureLoaded(this);
            }
            base.WriteObject(sendToPipeline, enumerateCollection);
        }

        /// <summary>Lower camelCase of a parameter name, as the engine's arguments are spelled.</summary>
        internal static string ArgumentName(string parameterName)
        {
            return char.ToLowerInvariant(parameterName[0]) + parameterName.Substring(1);
        }
    }
}
