"""A fake `az` for AzureCliCredential: prints a token the way `az account get-access-token` does.

The token is an unsigned JWT whose `aud` is the requested resource; azure-ai-ml reads claims
from it (never the signature). Written to a folder that the tests put first on PATH.
"""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

TENANT = "72f988bf-0000-0000-0000-000000000000"
OBJECT_ID = "11111111-2222-3333-4444-555555555555"

SCRIPT = """#!{python}
import base64, json, sys, time
args = sys.argv[1:]
if args[:2] != ["account", "get-access-token"]:
    print("fake az: only 'account get-access-token' is emulated", file=sys.stderr)
    sys.exit(2)
resource = args[args.index("--resource") + 1] if "--resource" in args else args[args.index("--scope") + 1].removesuffix("/.default")
def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
exp = int(time.time()) + 3600
token = ".".join([b64({{"alg": "none", "typ": "JWT"}}),
                  b64({{"aud": resource, "tid": "{tenant}", "oid": "{oid}", "upn": "tester@example.com", "exp": exp}}), "sig"])
print(json.dumps({{"accessToken": token, "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(exp)),
                  "expires_on": exp, "subscription": "{sub}", "tenant": "{tenant}", "tokenType": "Bearer"}}))
"""


def install(folder: Path, subscription: str) -> Path:
    """Write `az` into folder (to be put first on PATH) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "az"
    path.write_text(SCRIPT.format(python=sys.executable, tenant=TENANT, oid=OBJECT_ID, sub=subscription))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def decode(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
