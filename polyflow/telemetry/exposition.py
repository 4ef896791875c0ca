"""What a scrape answers: this process's instruments (or, in multiprocess mode, every
process's on this machine) and, when asked, the database's gauges."""

from __future__ import annotations

from . import instruments


class _Local:
    """This process's instruments, as a collector of a scrape's registry."""

    def collect(self):
        return instruments.registry().collect()

    def describe(self):
        return []


def registry(database: bool = True):
    """A registry for one scrape (made per scrape: cheap, and nothing is registered twice)."""
    from prometheus_client import CollectorRegistry

    from .collector import DatabaseCollector

    scrape = CollectorRegistry(auto_describe=False)
    path = instruments.multiprocess_dir()
    if path:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(scrape, path=path)
    else:
        from prometheus_client import ProcessCollector

        scrape.register(_Local())
        ProcessCollector(registry=scrape)  # this process's CPU and memory: the one process there is
    if database:
        scrape.register(DatabaseCollector())
    return scrape


def render(database: bool = True, accept: str = "") -> tuple[bytes, str]:
    """(body, content type) of a scrape, in the format the scraper accepts (text or OpenMetrics)."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept)
    return encoder(registry(database)), content_type
