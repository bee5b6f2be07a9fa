// Connect-Identity: one parameter set per way of signing in; the engine does the work.
// Every cmdlet class is declared as Verb_Noun in the global namespace: build.ps1 renames it to the
// command name (Rename-CmdletType) so error ids read "ManagedIdentity.<Kind>,<Command>".
using System.Collections;
using System.Management.Automation;
using System.Security;
using ManagedIdentity;
using ManagedIdentity.Interop;
using ManagedIdentity.Interop.Commands;

[Cmdlet(VerbsCommunications.Connect, "Identity", DefaultParameterSetName = ManagedIdentitySet)]
[OutputType(typeof(Context))]
public sealed class Connect_Identity : EngineCmdlet
{
    private const string ManagedIdentitySet = "ManagedIdentity";
    private const string AccessTokenSet = "AccessToken";

    [Parameter(Mandatory = true, ParameterSetName = ManagedIdentitySet)]
    [Alias("ManagedIdentity", "MSI")]
    public SwitchParameter Identity { get; set; }

    [Parameter(ParameterSetName = ManagedIdentitySet)]
    [ValidateNotNullOrEmpty]
    public string ClientId { get; set; }

    [Parameter(ParameterSetName = ManagedIdentitySet)]
    [ValidateNotNullOrEmpty]
    public string ObjectId { get; set; }

    [Parameter(ParameterSetName = ManagedIdentitySet)]
    [ValidateNotNullOrEmpty]
    public string ResourceId { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AccessTokenSet)]
    public SecureString AccessToken { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Resource { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string GraphEndpoint { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; }

    // Azure Resource Manager (issue 11): where ARM calls go and the default subscription.
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ResourceManagerEndpoint { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string SubscriptionId { get; set; }

    protected override void EndProcessing()
    {
        var arguments = new Hashtable();
        arguments["method"] = ParameterSetName;
        arguments["environment"] = EnvironmentSnapshot();
        foreach (string name in new[] { "ClientId", "ObjectId", "ResourceId", "Resource", "GraphEndpoint" })
        {
            object value;
            if (MyInvocation.BoundParameters.TryGetValue(name, out value)) arguments[ArgumentName(name)] = value;
        }
        if (MyInvocation.BoundParameters.ContainsKey("TimeoutSec")) arguments["timeoutSeconds"] = TimeoutSec;
        foreach (string name in new[] { "ResourceManagerEndpoint", "SubscriptionId" })
        {
            object value;
            if (MyInvocation.BoundParameters.TryGetValue(name, out value)) arguments[ArgumentName(name)] = value;
        }
        var description = InvokeEngine("identity.connect", arguments, AccessToken) as PSObject;
        Context context = ContextFromDescription(description);
        ContextStore.Current = context;
        WriteObject(context);
    }
}
