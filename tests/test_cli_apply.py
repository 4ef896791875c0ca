"""`polyflow apply`: the real command in subprocesses on the embedded SQLite, and once
in-process on PostgreSQL to check the rows it writes."""

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, assert_no_traceback, polyflow

PIPELINE = "examples/test-pipeline.yaml"
ACTION = "examples/actions/deep-wide-model.yaml"



@pytest.fixture
def home(clean_env, tmp_path):
    """A fresh POLYFLOW_HOME: the embedded SQLite database does not exist yet."""
    clean_env["POLYFLOW_HOME"] = str(tmp_path / "polyflow")
    return clean_env


@pytest.fixture
def alice(home):
    """The owner exists (createsuperuser needs the tables: migrate first, as a new user would)."""
    result = polyflow("manage", "migrate", "--no-input", env=home)
    assert result.returncode == 0, result.stderr
    env = {**home, "DJANGO_SUPERUSER_PASSWORD": "not-a-secret"}
    result = polyflow("manage", "createsuperuser", "--noinput", "--username", "alice",
                      "--email", "alice@example.com", env=env)
    assert result.returncode == 0, result.stderr
    return home



def test_first_apply_sets_up_the_database_then_names_the_unknown_owner(home, tmp_path):
    result = polyflow("apply", "-f", PIPELINE, "-f", ACTION, "--project", "bob/ml", env=home)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == ("Error: unknown owner 'bob': create the user first with "
                             "`polyflow manage createsuperuser`\n")
    # The database was migrated on the way: the next commands find their tables.
    assert (tmp_path / "polyflow" / "polyflow.sqlite3").is_file()
    result = polyflow("manage", "migrate", "--check", env=home)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_seed_pipeline_alone_names_the_missing_action(alice):
    result = polyflow("apply", "-f", PIPELINE, "--project", "alice/ml", env=alice)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{PIPELINE}: ops[1].template.action: unknown action 'deep-wide-model'")
    assert lines[-1] == "1 error found; nothing was applied."


def test_apply_with_the_action_then_again(alice):
    result = polyflow("apply", "-f", PIPELINE, "-f", ACTION, "--project", "alice/ml", env=alice)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "project alice/ml: created",
        "action deep-wide-model: version 1 stored",
        "pipeline test-pipeline: created (2 ops)",
    ]

    # The same documents again: the pipeline is updated; the action document
    # says `version: 1`, which exists with the same template, so no new version.
    result = polyflow("apply", "-f", PIPELINE, "-f", ACTION, "--project", "alice/ml", env=alice)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "action deep-wide-model: version 1 unchanged",
        "pipeline test-pipeline: updated (2 ops)",
    ]

    # Now in the registry, the action need not be in the files.
    result = polyflow("apply", "-f", PIPELINE, "--project", "alice/ml", env=alice)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pipeline test-pipeline: updated (2 ops)\n"

    count = ("from polyflow.models import Action, Pipeline; "
             "print(sorted(Action.objects.values_list('name', 'version')), "
             "Pipeline.objects.get(name='test-pipeline').operations.count())")
    result = polyflow("manage", "shell", "-c", count, env=alice)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[('deep-wide-model', 1)] 2"


def test_a_changed_action_version_is_a_conflict(alice, tmp_path):
    result = polyflow("apply", "-f", ACTION, "--project", "alice/ml", env=alice)
    assert result.returncode == 0, result.stderr
    changed = tmp_path / "action.yaml"
    changed.write_text((ROOT / ACTION).read_text().replace("default: 0.01", "default: 0.02"))
    result = polyflow("apply", "-f", str(changed), "--project", "alice/ml", env=alice)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr.startswith("Error: action 'deep-wide-model' version 1 exists with another template")


def test_nothing_is_applied_when_one_document_is_invalid(alice, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: event\nname: Data-Ready\n")
    result = polyflow("apply", "-f", ACTION, "-f", str(broken), "--project", "alice/ml", env=alice)
    assert result.returncode == 1
    assert f"{broken}: name: " in result.stderr
    # Neither the action nor the project was stored.
    check = ("from polyflow.models import Action, Project; "
             "print(Action.objects.count(), Project.objects.count())")
    result = polyflow("manage", "shell", "-c", check, env=alice)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 0"


def test_invalid_yaml(alice, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: pipeline\nname: [oops\n")
    result = polyflow("apply", "-f", str(bad), "--project", "alice/ml", env=alice)
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr.startswith(f"{bad}: line 3, column 1: invalid YAML")
    assert result.stderr.endswith("1 error found; nothing was applied.\n")


def test_invalid_yaml_and_the_other_files_errors_are_reported_together(alice, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    result = polyflow("apply", "-f", str(bad), "-f", PIPELINE, "--project", "alice/ml", env=alice)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{bad}: line 2, column 1: invalid YAML")
    assert lines[1].startswith(f"{PIPELINE}: ops[1].template.action: unknown action 'deep-wide-model'")
    assert lines[2] == "2 errors found; nothing was applied."


@pytest.mark.parametrize("args, message", [
    (["--project", "alice/ml"], "Missing argument 'FILE...'"),
    (["-f", PIPELINE, "--project", "alice"], "'alice': expected OWNER/PROJECT"),
    (["-f", PIPELINE, "--project", "alice/ml/x"], "'alice/ml/x': expected OWNER/PROJECT"),
    (["-f", PIPELINE, "--project", "/ml"], "'/ml': expected OWNER/PROJECT"),
    (["-f", PIPELINE, "--project", "alice/My_Project"], "'My_Project' is not a valid name"),
    (["-f", "no/such/file.yaml", "--project", "alice/ml"], "'no/such/file.yaml' does not exist"),
])
def test_usage_errors(home, tmp_path, args, message):
    result = polyflow("apply", *args, env=home)
    assert result.returncode == 2
    assert message in result.stderr
    assert_no_traceback(result)
    # Usage errors are found before Django is set up: nothing is created.
    assert not (tmp_path / "polyflow").exists()


def test_help(home):
    result = polyflow("apply", "--help", env=home)
    assert result.returncode == 0, result.stderr
    assert "--project OWNER/PROJECT" in result.stdout
    assert "polyflow manage migrate" in result.stdout


# In-process on PostgreSQL ---------------------------------------------------------


@pytest.mark.django_db
def test_rows_written_on_postgresql(django_user_model):
    from polyflow.cli import main
    from polyflow.models import Action, Pipeline, Project

    owner = django_user_model.objects.create_user("alice")
    result = CliRunner().invoke(
        main, ["apply", "-f", str(ROOT / PIPELINE), "-f", str(ROOT / ACTION), "--project", "alice/ml"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "pipeline test-pipeline: created (2 ops)" in result.output

    project = Project.objects.get(owner=owner, name="ml")
    pipeline = Pipeline.objects.get(project=project, name="test-pipeline")
    assert pipeline.content == (ROOT / PIPELINE).read_text()
    ops = {op.name: op for op in pipeline.operations.prefetch_related("upstream")}
    assert sorted(ops) == ["deep-wide-experiment", "job1"]
    assert [up.name for up in ops["deep-wide-experiment"].upstream.all()] == ["job1"]
    assert list(ops["job1"].upstream.all()) == []
    assert ops["deep-wide-experiment"].spec["action"] == {"name": "deep-wide-model", "version": 1}

    action = Action.objects.get(owner=owner, name="deep-wide-model")
    assert action.version == 1
    assert action.content == (ROOT / ACTION).read_text()

    result = CliRunner().invoke(main, ["apply", "-f", str(ROOT / ACTION), "--project", "alice/ml"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert Action.objects.filter(owner=owner).count() == 1


def test_without_a_project_the_files_go_to_local_default_as_for_run(home):
    result = polyflow("apply", "examples/quickstart.yaml", env=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["project local/default: created", "pipeline quickstart: created (7 ops)"]
    result = polyflow("run", "examples/quickstart.yaml", env=home)
    assert result.returncode == 0, result.stderr
    # The same project: the pipeline is found there, not created in another.
    assert result.stdout.splitlines()[0] == "pipeline quickstart: updated (7 ops)"
