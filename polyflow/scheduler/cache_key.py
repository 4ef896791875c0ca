"""The cache key of an op run's work (DESIGN section 10), a pure function.

Two op runs with the same key did the same work: the same template (command, image,
build, environment, declared inputs and outputs), the same resolved params, and the
same input artifacts by content (their digests, not their URIs: a file that moved but
did not change is the same input). The key is a sha256 over a canonical JSON text,
so it is the same in every process and on every database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ..backends.container import jsonable
from ..spec.plan import TemplateSpec, thaw

# Part of the text hashed: a change to what goes into a key gives new keys, never a false hit.
KEY_VERSION = 1


def cache_key(template: TemplateSpec, params: Mapping[str, object], input_digests: Mapping[str, str]) -> str:
    """The key of running `template` with these resolved `params`, whose artifact inputs
    (by input name) have these digests; their params (URIs) are left out for them."""
    document = {
        "version": KEY_VERSION,
        "template": jsonable(thaw(template)),
        "params": {name: jsonable(value) for name, value in params.items() if name not in input_digests},
        "inputs": dict(input_digests),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
