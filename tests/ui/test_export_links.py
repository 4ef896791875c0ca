"""The pipeline page's Export links: they name the export API, and following them as the signed-in
viewer downloads the file (or shows why the pipeline cannot be exported)."""

from __future__ import annotations

import html
import re

from polyflow.services.apply import apply_text
from tests.ui.support import EXAMPLES


def export_links(page: str) -> dict[str, str]:
    return {label: html.unescape(href) for href, label in
            re.findall(r'<a class="btn" href="([^"]+)" download data-export="([^"]+)"', page)}


def test_the_pipeline_page_links_to_its_export(client, users, seeded):
    project, _ = seeded
    # cron: the quickstart's path artifacts are refused by the default (kubernetes) executor
    apply_text(project, (EXAMPLES / "cron.yaml").read_text(), user=users["owner"])
    client.force_login(users["viewer"])  # reading is enough to export
    links = export_links(client.get("/ui/alice/seed/pipelines/nightly-report/").content.decode())
    assert links["Airflow DAG"] == "/api/v1/alice/seed/pipelines/nightly-report/export/?to=airflow"
    response = client.get(links["Airflow DAG"])
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="nightly-report.py"'
    assert "dag_id='nightly-report'" in response.content.decode()


def test_a_pipeline_airflow_cannot_express_answers_with_the_reasons(client, users, seeded):
    client.force_login(users["owner"])
    links = export_links(client.get("/ui/alice/seed/pipelines/test-pipeline/").content.decode())
    response = client.get(links["Airflow DAG"])
    assert response.status_code == 422
    assert [item["path"] for item in response.json()["errors"]] == ["ops.job1.template.build"]
