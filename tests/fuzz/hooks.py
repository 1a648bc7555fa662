"""Schemathesis hooks for the API fuzzing test (tests/api/fuzz.rs).

Stripe signs every webhook request: HMAC-SHA256 over "<unix time>.<raw body>" with the
endpoint's signing secret, sent as `Stripe-Signature: t=<time>,v1=<hex>`. No generated request
can carry a valid signature, so without this hook every webhook request would stop at the
signature check. For a positive case that carries the header, the hook signs the body exactly
as it will be sent (the JSON `requests` writes for `json=`); a negative case, or one sent
without the header (the missing-header check), is left as generated.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis

WEBHOOK = "/api/v1/webhooks/stripe"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != WEBHOOK or not case.headers or "Stripe-Signature" not in case.headers:
        return
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return
    try:
        body = json.dumps(case.body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return
    secret = os.environ["CS_FUZZ_WEBHOOK_SECRET"].encode("utf-8")
    timestamp = int(time.time())
    signature = hmac.new(secret, f"{timestamp}.".encode("utf-8") + body, hashlib.sha256).hexdigest()
    case.headers["Stripe-Signature"] = f"t={timestamp},v1={signature}"
