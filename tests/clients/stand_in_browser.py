#!/usr/bin/env python3
"""A stand-in web browser for the interactive sign-in cases (Python's webbrowser module runs it
through the BROWSER variable): it opens the URL it is given as a browser would, without a
person. A 302 is followed with a GET; an HTML page holding a form (Entra's
response_mode=form_post answer) is submitted as the page's script would: a POST of the form's
fields to its action. It trusts the CA bundle the user configured (REQUESTS_CA_BUNDLE), as a
browser trusts a certificate the user imported. Standard library only; every wait bounded.

Like a real browser launcher it returns at once: the page is opened by a detached copy of this
script (MSAL opens the browser and only then serves its loopback redirect URI, on one thread)."""

import html.parser
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 15
MAX_STEPS = 5


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.method = "GET"
        self.fields = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
            self.method = (a.get("method") or "GET").upper()
        elif tag == "input" and a.get("name") and self.action is not None:
            self.fields.append((a["name"], a.get("value") or ""))


def main(url):
    context = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or None)
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url)
    for _ in range(MAX_STEPS):
        try:
            with opener.open(request, timeout=TIMEOUT) as resp:
                status, headers, body = resp.status, resp.headers, resp.read(1 << 20)
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read(1 << 20)
        print("stand-in browser: %s %s -> %d" % (request.get_method(), request.full_url.split("?")[0], status),
              file=sys.stderr)
        if status in (301, 302, 303, 307) and headers.get("Location"):
            request = urllib.request.Request(urllib.parse.urljoin(request.full_url, headers["Location"]))
            continue
        form = _Form()
        form.feed(body.decode("utf-8", "replace"))
        if status == 200 and form.action:
            target = urllib.parse.urljoin(request.full_url, form.action)
            data = urllib.parse.urlencode(form.fields).encode()
            if form.method == "POST":
                request = urllib.request.Request(
                    target, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
            else:
                request = urllib.request.Request(target + "?" + data.decode())
            continue
        return 0 if status < 400 else 1
    return 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--now":
        sys.exit(main(sys.argv[2]))
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "--now", sys.argv[1]],
                     stdin=subprocess.DEVNULL, close_fds=True)
    sys.exit(0)
