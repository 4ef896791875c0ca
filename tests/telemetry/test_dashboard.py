"""The Grafana dashboard and the docs name the metrics Polyflow exports, all of them."""

import datetime as dt
import json
import re

from polyflow.telemetry import instruments
from polyflow.telemetry.collector import figures
from tests.conftest import ROOT

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
DOCS = ROOT / "docs" / "observability.md"


def exported() -> dict[str, str]:
    """{family name: type}, as /metrics gives them (counters with their _total)."""
    names = {}
    for family in instruments.registry().collect():
        names[family.name + ("_total" if family.type == "counter" else "")] = family.type
    for family in figures((), (), (), dt.datetime.now(dt.UTC), 5):
        names[family.name] = "gauge"
    names["polyflow_database_up"] = "gauge"
    return names


def test_every_metric_of_the_dashboard_is_exported():
    expressions = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
                   for target in panel.get("targets", [])]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for expr in expressions
            for name in re.findall(r"\bpolyflow_[a-z_]+", expr)}
    assert used and used <= set(exported())
    # The dashboard shows most of them.
    assert len(used) >= len(exported()) - 2


def test_the_docs_list_every_metric():
    documented = set(re.findall(r"^\| `(polyflow_[a-z_]+)`", DOCS.read_text(), re.M))
    assert documented == set(exported())
