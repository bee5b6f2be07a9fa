// Per-runspace connection state (Automation jobs share a process; one job must never see
// another's identity): the current context and every engine context the runspace created,
// freed in the engine when the runspace closes.
using System;
using System.Collections;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace ManagedIdentity.Interop
{
    public static class ContextStore
    {
        private sealed class RunspaceContexts
        {
            public Context Current;
            // Boxed ulongs: a few per runspace, and ArrayList is precompiled in the framework
            // where HashSet<ulong> would be compiled on the first connect of every process.
            public readonly ArrayList Handles = new ArrayList();
        }

        private static readonly ConditionalWeakTable<Runspace, RunspaceContexts> Table = new ConditionalWeakTable<Runspace, RunspaceContexts>();

        /// <summary>The calling runspace's current context (null when none); setting null forgets it.</summary>
        public static Context Current
        {
            get
            {
                var runspace = Runspace.DefaultRunspace;
                RunspaceContexts state;
                if (runspace == null || !Table.TryGetValue(runspace, out state)) return null;
                lock (state) return state.Current;
            }
            internal set
            {
                var runspace = Runspace.DefaultRunspace;
                if (runspace == null) throw new InvalidOperationException("There is no runspace on this thread.");
                RunspaceContexts state = StateOf(runspace);
                lock (state) state.Current = value;
            }
        }

        /// <summary>True when context was created in the calling runspace.</summary>
        internal static bool OwnedByCaller(Context context)
        {
            var runspace = Runspace.DefaultRunspace;
            return runspace != null && context.RunspaceId == runspace.InstanceId;
        }

        /// <summary>A new context object for an engine handle, owned by the calling runspace.</summary>
        internal static Context Create(ulong handle, JsonObject description)
        {
            var runspace = Runspace.DefaultRunspace;
            if (runspace == null) throw new InvalidOperationException("There is no runspace on this thread.");
            RunspaceContexts state = StateOf(runspace);
            lock (state)
            {
                if (!state.Handles.Contains(handle)) state.Handles.Add(handle);
            }
            return new Context(handle, runspace.InstanceId, description);
        }

        /// <summary>Forgets a handle the engine has released; clears Current when it was that one.</summary>
        internal static void Forget(ulong handle)
        {
            var runspace = Runspace.DefaultRunspace;
            RunspaceContexts state;
            if (runspace == null || !Table.TryGetValue(runspace, out state)) return;
            lock (state)
            {
                state.Handles.Remove(handle);
                if (state.Current != null && state.Current.Handle == handle) state.Current = null;
            }
        }

        private static RunspaceContexts StateOf(Runspace runspace)
        {
            RunspaceContexts state;
            if (Table.TryGetValue(runspace, out state)) return state;
            lock (Table)
            {
                if (Table.TryGetValue(runspace, out state)) return state;
                state = new RunspaceContexts();
                Table.Add(runspace, state);
                runspace.StateChanged += OnStateChanged;
                return state;
            }
        }

        private static void OnStateChanged(object sender, RunspaceStateEventArgs e)
        {
            var state = e.RunspaceStateInfo.State;
            if (state != RunspaceState.Closed && state != RunspaceState.Broken) return;
            var runspace = sender as Runspace;
            RunspaceContexts contexts;
            if (runspace == null || !Table.TryGetValue(runspace, out contexts)) return;
            runspace.StateChanged -= OnStateChanged;
            ulong[] handles;
            lock (contexts)
            {
                handles = (ulong[])contexts.Handles.ToArray(typeof(ulong));
                contexts.Handles.Clear();
                contexts.Current = null;
            }
            Table.Remove(runspace);
            foreach (ulong handle in handles) Engine.ReleaseContext(handle);
        }
    }
}
