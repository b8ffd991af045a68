"""Schemathesis hooks: signs every operator request the way `zgoda` does (docs/api.md §4).

The signature covers the exact bytes sent, so it is computed as a requests auth handler, after
schemathesis has serialized the body. The key comes from the local stack's env file.
"""
import hashlib
import hmac
import os
import time
from urllib.parse import urlsplit

import requests
import schemathesis

KID = os.environ["ZGODA_OPERATOR_KID"]
KEY = bytes.fromhex(os.environ["ZGODA_OPERATOR_KEY"])
OPERATOR_PREFIXES = ("/v1/admin/", "/v1/breaches")


class OperatorSignature(requests.auth.AuthBase):
    def __call__(self, request):
        url = urlsplit(request.url)
        path = url.path + (f"?{url.query}" if url.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        ts = int(time.time())
        host = url.netloc.lower()
        idempotency_key = request.headers.get("Idempotency-Key", "").strip()
        digest = hashlib.sha256(body).hexdigest()
        text = f"{ts}\n{request.method}\n{host}\n{path}\n{idempotency_key}\n{digest}"
        sig = hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()
        request.headers["Authorization"] = f"Zgoda-HMAC-SHA256 kid={KID}, ts={ts}, sig={sig}"
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path.startswith(OPERATOR_PREFIXES):
        kwargs["auth"] = OperatorSignature()
