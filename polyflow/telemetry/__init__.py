"""Observability: Prometheus metrics, log context and formats, readiness (docs/observability.md).

One module per concern, each cheap to import (standard library and Django only):
prometheus_client is imported only by a process that records or serves metrics,
never at the start of a CLI command.

- `context`     the run, pipeline, op and attempt a log line is about (contextvars);
- `logs`        the filter that puts them on log records, the text and JSON formats;
- `instruments` this process's counters and histograms (ticks, batches, hand-offs, backends);
- `collector`   gauges read from the database at scrape time (runs, op runs, queue depth, workers);
- `exposition`  what `/metrics` answers, in one process or across processes (multiprocess mode);
- `heartbeat`   each scheduler process's last tick, and the readiness check built on it;
- `access`      the access log of `polyflow server`;
- `worker`      Celery workers: their log format and their own metrics port;
- `views`       `/metrics` and `/readyz`.

(`polyflow.scheduler.metrics` and `polyflow.services.metrics` are another thing: the
metrics ops report about their models, docs/metrics.md.)
"""
