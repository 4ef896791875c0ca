"""job1 of examples/test-pipeline.yaml: the image's entrypoint (examples/dockerfiles/Dockerfile).

Its template has no command: the image's own entrypoint runs, and reads its param from the
environment Polyflow gives every op (POLYFLOW_PARAM_<NAME>).
"""

import os

bucket = os.environ.get("POLYFLOW_PARAM_INPUT_BUCKET", "")
print(f"job1: preparing the data in {bucket or '(no bucket given)'}")
