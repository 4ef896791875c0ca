from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    try:
        call_command("makemigrations", "polyflow", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(
            "The models have changes without a migration; run "
            "`polyflow manage makemigrations polyflow`.\n" + out.getvalue()
        )
