"""Conformance cases: Microsoft's own Python clients (msal, azure-identity, azure-mgmt-msi,
azure-mgmt-automation, azure-core) against mi-emulator, unmodified: no monkey-patching, only the
configuration a user sets anyway (authority, CA bundle, instance discovery off, the environment
variables a host provides).

    cases.py setup BASE HTTPS_BASE CA_FILE OUT_DIR   registers the apps, certificate and federated
                                                     credentials the cases use; writes OUT_DIR/context.json
    cases.py run CONTEXT RESULTS [NAME ...]           runs every case (or those named), each in its
                                                     own child process with exactly the environment a
                                                     real host gives, and writes RESULTS (JSON)
    cases.py case NAME CONTEXT                        one case (the child process)

The case list is tests/clients/cases.json (the Pester suite makes one `It` per entry). Every wait
is bounded; nothing leaves loopback: a case's environment points HTTP(S)_PROXY at a closed
loopback port with NO_PROXY=127.0.0.1,localhost, so a client that tried a public endpoint (say
instance discovery at login.microsoftonline.com) fails instead of reaching it.
"""

import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_FILE = os.path.join(HERE, "cases.json")
CASE_TIMEOUT_SECS = 90
VAULT = "https://vault.azure.net"
GRAPH = "https://graph.microsoft.com"
ARM_SCOPE = "https://management.azure.com/.default"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"

# The Arc agent's fixed key directory: msal and azure-identity read key files only from there.
ARC_TOKEN_DIRECTORY = {
    "linux": "/var/opt/azcmagent/tokens",
    "win32": os.path.expandvars(r"%ProgramData%\AzureConnectedMachineAgent\Tokens"),
}.get(sys.platform)


# ---------------------------------------------------------------------------------------------
# helpers


def load_cases():
    with open(CASES_FILE, encoding="utf-8") as f:
        return json.load(f)


def claims(token):
    """The payload of a JWT-shaped token (not verified: the emulator's tokens are unsigned)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class CaseFailure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CaseFailure(message)


def msal_token(result, what):
    """The access token of an MSAL result dict, or a failure naming MSAL's error."""
    expect(isinstance(result, dict), "%s: MSAL returned %r" % (what, result))
    if "access_token" not in result:
        raise CaseFailure("%s: %s: %s" % (what, result.get("error"), str(result.get("error_description"))[:300]))
    return result["access_token"]


def control(ctx, method, path, body=None):
    import requests
    r = requests.request(method, ctx["base"] + "/_emulator" + path, json=body, timeout=15,
                         proxies={"http": None, "https": None})
    if r.status_code >= 300:
        raise CaseFailure("control %s %s: %d %s" % (method, path, r.status_code, r.text[:200]))
    return r.json() if r.content else None


def closed_loopback_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------------
# setup


def setup(base, https, ca_file, out_dir):
    ca_file, out_dir = os.path.abspath(ca_file), os.path.abspath(out_dir)
    import requests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import datetime
    import jwt

    session = requests.Session()
    session.trust_env = False

    def ctl(method, path, body=None):
        r = session.request(method, base + "/_emulator" + path, json=body, timeout=15)
        r.raise_for_status()
        return r.json() if r.content else None

    info = ctl("GET", "/info")
    seed = ctl("GET", "/seed")
    by_name = {i["displayName"]: i for i in seed["identities"]}
    run_id = "%08x" % (int(time.time() * 1000) & 0xFFFFFFFF)

    # An application of the tenant (the shared secret and any registered credential work for
    # it) holding Graph's Application.Read.All, for the secret, certificate and paging cases.
    app = ctl("POST", "/servicePrincipals",
              {"count": 1, "prefix": "clients-conformance", "type": "Application"})[0]
    ctl("POST", "/assignments", {"principalId": app["id"], "resourceId": next(
        r["objectId"] for r in seed["resources"] if r["resourceUri"] == GRAPH),
        "appRoleValue": "Application.Read.All"})

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clients-conformance")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    paths = {n: os.path.join(out_dir, n) for n in ("client-key.pem", "client-cert.pem", "client-key-and-cert.pem", "federated-token")}
    with open(paths["client-key.pem"], "w") as f:
        f.write(key_pem)
    with open(paths["client-cert.pem"], "w") as f:
        f.write(cert_pem)
    with open(paths["client-key-and-cert.pem"], "w") as f:
        f.write(key_pem + cert_pem)
    ctl("POST", "/certificates", {"clientId": app["appId"], "certificatePem": cert_pem})

    # An external identity provider's token (as GitHub Actions or AKS would issue), federated
    # with the application and with the user-assigned identity uami-reports. exp/nbf are
    # fractional NumericDates, which RFC 7519 allows.
    issuer = "https://oidc.clients-conformance.example/%s/" % run_id
    subject = "system:serviceaccount:default:clients-conformance"
    ctl("POST", "/federatedCredentials", {"clientId": app["appId"], "issuer": issuer, "subject": subject})
    ctl("POST", "/federatedCredentials",
        {"clientId": by_name["uami-reports"]["clientId"], "issuer": issuer, "subject": subject})
    t = time.time()
    federated = jwt.encode({"iss": issuer, "sub": subject, "aud": FEDERATED_AUDIENCE,
                            "iat": t, "nbf": t - 0.5, "exp": t + 3600.25}, key_pem, algorithm="RS256")
    with open(paths["federated-token"], "w") as f:
        f.write(federated)

    ctx = {
        "base": base,
        "https": https,
        "ca": ca_file,
        "tenant": seed["tenantId"],
        "authority": "%s/%s" % (https, seed["tenantId"]),
        "subscription": seed["subscriptionId"],
        "publicClientId": seed["publicClientId"],
        "clientSecret": seed["clientSecret"],
        "armAdmin": next(a for a in seed["adminApps"] if a["displayName"] == "contoso-arm-admin")["appId"],
        "system": by_name["aa-runbooks"],
        "userAssigned": by_name["uami-reports"],
        "app": app,
        "certificate": {"thumbprint": cert.fingerprint(hashes.SHA1()).hex(), **paths},
        "info": info,
        "runId": run_id,
        "arc": bool(ARC_TOKEN_DIRECTORY) and os.path.normcase(os.path.realpath(info["hosts"]["arc"]["tokenDirectory"]))
        == os.path.normcase(os.path.realpath(ARC_TOKEN_DIRECTORY)),
        "cloudShellFixed": bool(info["hosts"]["cloudShell"].get("fixedEndpoint")),
    }
    with open(os.path.join(out_dir, "context.json"), "w") as f:
        json.dump(ctx, f, indent=1)
    return 0


# ---------------------------------------------------------------------------------------------
# the environment of each case


def base_environment(ctx):
    """What any process has (no Azure variable), plus the loopback-only proxy guard."""
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "HOME": ctx["home"],
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HTTP_PROXY": "http://127.0.0.1:%d" % ctx["closedPort"],
        "HTTPS_PROXY": "http://127.0.0.1:%d" % ctx["closedPort"],
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "PROGRAMDATA", "USERPROFILE",
                 "APPDATA", "LOCALAPPDATA"):  # what any Windows process has
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def host_environment(ctx, host):
    """Exactly the variables /_emulator/info says the host sets."""
    key = {"imds": "imds", "appservice": "appService", "automation": "automation", "arc": "arc",
           "cloudshell": "cloudShell", "ml": "machineLearning", "servicefabric": "serviceFabric"}[host]
    return dict(ctx["info"]["hosts"][key]["environment"])


def case_environment(ctx, case):
    env = base_environment(ctx)
    kind = case["kind"]
    if kind == "mi":
        env.update(host_environment(ctx, case["host"]))
        if case["host"] == "cloudshell" and case["client"] == "msal":
            # MSAL's Cloud Shell path is a PublicClientApplication, which reads the authority's
            # discovery document at construction: over https, so the CA bundle is needed.
            env["REQUESTS_CA_BUNDLE"] = ctx["ca"]
    elif kind in ("environment",):
        env.update(ctx["info"]["hosts"]["entra"]["environment"])
        env["AZURE_CLIENT_ID"] = ctx["app"]["appId"]
        env["AZURE_CLIENT_SECRET"] = ctx["clientSecret"]
        env["REQUESTS_CA_BUNDLE"] = ctx["ca"]
    elif kind in ("workload", "mi-workload"):
        # What the AKS workload-identity webhook injects.
        env.update({
            "AZURE_CLIENT_ID": ctx["userAssigned"]["clientId"],
            "AZURE_TENANT_ID": ctx["tenant"],
            "AZURE_FEDERATED_TOKEN_FILE": ctx["certificate"]["federated-token"],
            "AZURE_AUTHORITY_HOST": ctx["info"]["hosts"]["entra"]["environment"]["AZURE_AUTHORITY_HOST"],
            "REQUESTS_CA_BUNDLE": ctx["ca"],
        })
    else:
        env["REQUESTS_CA_BUNDLE"] = ctx["ca"]
        if kind == "interactive":
            env["BROWSER"] = ctx["browser"]
    return env


# ---------------------------------------------------------------------------------------------
# the cases (each runs in its own process with case_environment)


def expected_identity(ctx, case):
    return ctx["system"] if case["id"] == "system" else ctx["userAssigned"]


def mi_msal(ctx, case):
    import msal
    import requests
    ua = ctx["userAssigned"]
    identity = {
        "system": lambda: msal.SystemAssignedManagedIdentity(),
        "clientid": lambda: msal.UserAssignedManagedIdentity(client_id=ua["clientId"]),
        "objectid": lambda: msal.UserAssignedManagedIdentity(object_id=ua["objectId"]),
        "resourceid": lambda: msal.UserAssignedManagedIdentity(resource_id=ua["resourceId"]),
    }[case["id"]]()
    if case["host"] == "cloudshell":
        # MSAL Python serves Cloud Shell through a public client with prompt="none", posting to
        # Cloud Shell's fixed http://localhost:50342/oauth2/token.
        app = msal.PublicClientApplication(ctx["publicClientId"], authority=ctx["authority"],
                                           instance_discovery=False, timeout=15)
        result = app.acquire_token_interactive([VAULT + "/.default"], prompt="none")
    else:
        client = msal.ManagedIdentityClient(identity, http_client=requests.Session(), token_cache=None)
        result = client.acquire_token_for_client(resource=VAULT)
    token = msal_token(result, "ManagedIdentityClient")
    want = expected_identity(ctx, case)
    got = claims(token)
    expect(got.get("appid") == want["clientId"],
           "token for %s, expected %s" % (got.get("appid"), want["clientId"]))
    return "token for %s (%s)" % (want["displayName"], got.get("aud"))


def mi_azid(ctx, case):
    from azure.identity import ManagedIdentityCredential
    ua = ctx["userAssigned"]
    kwargs = {
        "system": {},
        "clientid": {"client_id": ua["clientId"]},
        "objectid": {"identity_config": {"object_id": ua["objectId"]}},
        "resourceid": {"identity_config": {"resource_id": ua["resourceId"]}},
    }[case["id"]]
    if case["host"] == "servicefabric":
        # Service Fabric pins the endpoint's certificate by IDENTITY_SERVER_THUMBPRINT.
        pass
    token = ManagedIdentityCredential(**kwargs).get_token(VAULT + "/.default").token
    want = expected_identity(ctx, case)
    got = claims(token)
    expect(got.get("appid") == want["clientId"],
           "token for %s, expected %s" % (got.get("appid"), want["clientId"]))
    return "token for %s (%s)" % (want["displayName"], got.get("aud"))


def msal_confidential(ctx, credential):
    import msal
    app = msal.ConfidentialClientApplication(ctx["app"]["appId"], client_credential=credential,
                                             authority=ctx["authority"], instance_discovery=False, timeout=15)
    token = msal_token(app.acquire_token_for_client([GRAPH + "/.default"]), "acquire_token_for_client")
    got = claims(token)
    expect(got.get("appid") == ctx["app"]["appId"], "token for %s" % got.get("appid"))
    expect("Application.Read.All" in got.get("roles", []), "roles %s" % got.get("roles"))
    return "app token with roles %s" % got.get("roles")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def case_msal_secret(ctx, case):
    return msal_confidential(ctx, ctx["clientSecret"])


def case_msal_cert_rs256(ctx, case):
    # A SHA-1 thumbprint given: MSAL signs RS256 with x5t.
    c = ctx["certificate"]
    return msal_confidential(ctx, {"private_key": read(c["client-key.pem"]), "thumbprint": c["thumbprint"]})


def case_msal_cert_ps256(ctx, case):
    # Only the certificate given (MSAL 1.35+): PS256 with x5t#S256.
    c = ctx["certificate"]
    return msal_confidential(ctx, {"private_key": read(c["client-key.pem"]), "public_certificate": read(c["client-cert.pem"])})


def case_msal_federated(ctx, case):
    return msal_confidential(ctx, {"client_assertion": read(ctx["certificate"]["federated-token"])})


def azid_app_token(ctx, credential):
    token = credential.get_token(GRAPH + "/.default").token
    got = claims(token)
    expect(got.get("appid") == ctx["app"]["appId"], "token for %s" % got.get("appid"))
    return "app token with roles %s" % got.get("roles")


def case_azid_secret(ctx, case):
    from azure.identity import ClientSecretCredential
    return azid_app_token(ctx, ClientSecretCredential(ctx["tenant"], ctx["app"]["appId"], ctx["clientSecret"],
                                                      authority=ctx["https"], disable_instance_discovery=True))


def case_azid_cert(ctx, case):
    from azure.identity import CertificateCredential
    return azid_app_token(ctx, CertificateCredential(
        ctx["tenant"], ctx["app"]["appId"], certificate_path=ctx["certificate"]["client-key-and-cert.pem"],
        authority=ctx["https"], disable_instance_discovery=True))


def case_azid_assertion(ctx, case):
    from azure.identity import ClientAssertionCredential
    path = ctx["certificate"]["federated-token"]
    return azid_app_token(ctx, ClientAssertionCredential(ctx["tenant"], ctx["app"]["appId"], lambda: read(path),
                                                         authority=ctx["https"]))


def case_azid_environment(ctx, case):
    from azure.identity import EnvironmentCredential
    return azid_app_token(ctx, EnvironmentCredential(disable_instance_discovery=True))


def case_azid_workload(ctx, case):
    from azure.identity import WorkloadIdentityCredential
    token = WorkloadIdentityCredential().get_token(VAULT + "/.default").token
    got = claims(token)
    expect(got.get("appid") == ctx["userAssigned"]["clientId"], "token for %s" % got.get("appid"))
    return "token for uami-reports through its federated credential"


def case_azid_mi_workload(ctx, case):
    from azure.identity import ManagedIdentityCredential
    token = ManagedIdentityCredential().get_token(VAULT + "/.default").token
    got = claims(token)
    expect(got.get("appid") == ctx["userAssigned"]["clientId"], "token for %s" % got.get("appid"))
    return "ManagedIdentityCredential on an AKS host: token for uami-reports"


def public_app(ctx):
    import msal
    return msal.PublicClientApplication(ctx["publicClientId"], authority=ctx["authority"],
                                        instance_discovery=False, timeout=15)


def silent_second_resource(app, first):
    """A token for ARM without the user: through the refresh token of the first sign-in."""
    accounts = app.get_accounts()
    expect(accounts, "no account in the cache after sign-in")
    second = app.acquire_token_silent(["https://management.azure.com/user_impersonation"], account=accounts[0])
    token = msal_token(second, "acquire_token_silent (second resource)")
    expect(second.get("token_source") == "identity_provider", "second token from %s" % second.get("token_source"))
    expect(claims(token).get("aud") == "https://management.azure.com", "aud %s" % claims(token).get("aud"))
    expect(token != first, "same token for both resources")


def case_msal_device_code(ctx, case):
    app = public_app(ctx)
    flow = app.initiate_device_flow(scopes=[GRAPH + "/User.Read"])
    expect("user_code" in flow, "device flow: %s" % flow.get("error_description", flow))
    expect(flow["verification_uri"].startswith("https://"), "verification_uri %s" % flow["verification_uri"])
    control(ctx, "POST", "/deviceCode", {"userCode": flow["user_code"], "outcome": "approve"})
    flow["expires_at"] = time.time() + 30  # bound the polling
    result = app.acquire_token_by_device_flow(flow)
    token = msal_token(result, "acquire_token_by_device_flow")
    expect(result.get("id_token_claims", {}).get("preferred_username"), "no id_token claims")
    silent_second_resource(app, token)
    return "device code as %s, then ARM silently via the refresh token" % result["id_token_claims"]["preferred_username"]


def case_msal_interactive(ctx, case):
    app = public_app(ctx)
    result = app.acquire_token_interactive([GRAPH + "/User.Read"], timeout=20)
    token = msal_token(result, "acquire_token_interactive")
    expect(result.get("id_token_claims", {}).get("nonce"), "id_token without nonce")
    silent_second_resource(app, token)
    return "browser sign-in (form_post, nonce checked), then ARM silently"


def arm_credential(ctx):
    from azure.identity import ClientSecretCredential
    return ClientSecretCredential(ctx["tenant"], ctx["armAdmin"], ctx["clientSecret"], authority=ctx["https"],
                                  disable_instance_discovery=True)


def case_arm(ctx, case):
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.automation import AutomationClient
    from azure.mgmt.automation.models import AutomationAccountUpdateParameters, Identity
    from azure.mgmt.msi import ManagedServiceIdentityClient
    credential = arm_credential(ctx)
    msi = ManagedServiceIdentityClient(credential, ctx["subscription"], base_url=ctx["https"])
    automation = AutomationClient(credential, ctx["subscription"], base_url=ctx["https"])
    group, name = "rg-identity", "uami-clients-" + ctx["runId"]
    created = msi.user_assigned_identities.create_or_update(group, name, {"location": "uksouth"})
    expect(created.name == name and created.client_id and created.principal_id, "created %r" % created)
    got = msi.user_assigned_identities.get(group, name)
    expect(got.id == created.id and got.client_id == created.client_id, "get %r" % got)
    listed = [i.name for i in msi.user_assigned_identities.list_by_resource_group(group)]
    expect(name in listed, "list_by_resource_group: %s" % listed)
    expect(name in [i.name for i in msi.user_assigned_identities.list_by_subscription()], "list_by_subscription")
    attach = AutomationAccountUpdateParameters(identity=Identity(
        type="SystemAssigned, UserAssigned", user_assigned_identities={created.id: {}}))
    account = automation.automation_account.update("rg-automation", "aa-runbooks", attach)
    attached = [k.lower() for k in (account.identity.user_assigned_identities or {})]
    expect(created.id.lower() in attached, "attach: %s" % attached)
    account = automation.automation_account.get("rg-automation", "aa-runbooks")
    expect(created.id.lower() in [k.lower() for k in account.identity.user_assigned_identities], "get after attach")
    detach = AutomationAccountUpdateParameters(identity=Identity(
        type="SystemAssigned, UserAssigned", user_assigned_identities={created.id: None}))
    account = automation.automation_account.update("rg-automation", "aa-runbooks", detach)
    expect(created.id.lower() not in [k.lower() for k in (account.identity.user_assigned_identities or {})],
           "detach")
    msi.user_assigned_identities.delete(group, name)
    try:
        msi.user_assigned_identities.get(group, name)
        raise CaseFailure("the identity is still there after delete")
    except ResourceNotFoundError:
        pass
    return "created, got, listed, attached to aa-runbooks, detached and deleted %s" % name


def case_graph_paging(ctx, case):
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
    from azure.core.rest import HttpRequest
    from azure.identity import ClientSecretCredential
    credential = ClientSecretCredential(ctx["tenant"], ctx["app"]["appId"], ctx["clientSecret"],
                                        authority=ctx["https"], disable_instance_discovery=True)
    client = PipelineClient(base_url=ctx["https"], policies=[
        RetryPolicy(retry_total=2), BearerTokenCredentialPolicy(credential, GRAPH + "/.default")])
    url, pages, ids, contexts = ctx["https"] + "/v1.0/servicePrincipals?$top=2&$select=id,displayName", 0, [], []
    while url and pages < 50:
        resp = client.send_request(HttpRequest("GET", url))
        resp.raise_for_status()
        body = resp.json()
        pages += 1
        contexts.append(body.get("@odata.context", ""))
        ids += [v["id"] for v in body["value"]]
        url = body.get("@odata.nextLink")
    for context in contexts:
        expect(context.startswith(ctx["https"] + "/"), "@odata.context %s" % context)
    expect(pages >= 3, "only %d pages" % pages)
    expect(len(ids) == len(set(ids)), "a service principal on two pages")
    return "%d service principals over %d pages, every nextLink followed with the bearer token" % (len(ids), pages)


CASES = {
    "mi-msal": mi_msal,
    "mi-azid": mi_azid,
    "msal-secret": case_msal_secret,
    "msal-cert-rs256": case_msal_cert_rs256,
    "msal-cert-ps256": case_msal_cert_ps256,
    "msal-federated": case_msal_federated,
    "azid-secret": case_azid_secret,
    "azid-cert": case_azid_cert,
    "azid-assertion": case_azid_assertion,
    "azid-environment": case_azid_environment,
    "azid-workload": case_azid_workload,
    "azid-mi-workload": case_azid_mi_workload,
    "msal-device-code": case_msal_device_code,
    "msal-interactive": case_msal_interactive,
    "arm": case_arm,
    "graph-paging": case_graph_paging,
}


def run_one(name, context_file):
    with open(context_file, encoding="utf-8") as f:
        ctx = json.load(f)
    case = next(c for c in load_cases() if c["name"] == name)
    handler = CASES["mi-" + case["client"]] if case["kind"] == "mi" else CASES[case["name"]]
    try:
        detail = handler(ctx, case)
    except Exception as e:  # any failure of the client is the case's answer
        first = (str(e).strip().splitlines() or [""])[0]
        print("FAIL %s: %s: %s" % (name, type(e).__name__, first[:400]))
        return 1
    print("OK %s: %s" % (name, detail))
    return 0


# ---------------------------------------------------------------------------------------------
# the runner


def skip_reason(ctx, case):
    if case["kind"] == "mi" and case["host"] == "arc" and not ctx["arc"]:
        if not ARC_TOKEN_DIRECTORY:
            return "Azure Arc: msal and azure-identity support it only on Linux and Windows (not %s)" % sys.platform
        return ("Azure Arc: msal and azure-identity read key files only from %s, which this user cannot "
                "write, so the emulator could not use it" % ARC_TOKEN_DIRECTORY)
    if case["kind"] == "mi" and case["host"] == "cloudshell" and case["client"] == "msal" \
            and not ctx["cloudShellFixed"]:
        return "Cloud Shell with msal: port 50342 (Cloud Shell's fixed port, which msal always uses) is taken"
    return None


def run_all(context_file, results_file, names):
    context_file = os.path.abspath(context_file)
    with open(context_file, encoding="utf-8") as f:
        ctx = json.load(f)
    home = tempfile.mkdtemp(prefix="clients-home-")
    ctx["home"] = home
    ctx["closedPort"] = closed_loopback_port()
    # The stand-in browser: Python's webbrowser runs BROWSER as one executable.
    ctx["browser"] = os.path.join(HERE, "stand_in_browser.py")
    if os.name == "nt":
        ctx["browser"] = os.path.join(home, "browser.cmd")
        with open(ctx["browser"], "w") as f:
            f.write('@"%s" "%s" %%*\r\n' % (sys.executable, os.path.join(HERE, "stand_in_browser.py")))
    cases = [c for c in load_cases() if not names or c["name"] in names]
    # ARM writes and Graph reads do not touch what the token cases use; the device-code case
    # approves "its" code by user code. Everything may run side by side.
    results = {}

    def one(case):
        reason = skip_reason(ctx, case)
        if reason:
            return case["name"], {"skipped": True, "reason": reason}
        env = case_environment(ctx, case)
        start = time.monotonic()
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "case", case["name"], context_file],
                               env=env, capture_output=True, text=True, timeout=CASE_TIMEOUT_SECS, cwd=home)
            out, code = (p.stdout + p.stderr).strip(), p.returncode
        except subprocess.TimeoutExpired as e:
            out, code = "FAIL %s: no answer within %d s %s" % (case["name"], CASE_TIMEOUT_SECS, e.stdout or ""), -1
        lines = [l for l in out.splitlines() if l.startswith(("OK ", "FAIL "))]
        return case["name"], {
            "ok": code == 0, "line": lines[-1] if lines else out[-600:], "seconds": round(time.monotonic() - start, 2),
            "env": sorted(env),
            "output": out[-3000:] if code != 0 else "",
        }

    jobs = max(1, min(4, (os.cpu_count() or 2) + 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, result in pool.map(one, cases):
            results[name] = result
            print(("SKIP " + name + ": " + result["reason"]) if result.get("skipped") else result["line"])
    with open(results_file, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    return 0


def main(argv):
    if len(argv) >= 5 and argv[0] == "setup":
        return setup(*argv[1:5])
    if len(argv) >= 3 and argv[0] == "run":
        return run_all(argv[1], argv[2], argv[3:])
    if len(argv) == 3 and argv[0] == "case":
        return run_one(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
