"""System checks: what a host project must give Polyflow, refused at start-up
(`manage.py check`, `migrate`, `runserver`, `polyflow server`) rather than found
out from wrong answers later.

- The project model (POLYFLOW_PROJECT_MODEL) has an `owner` foreign key to the
  user model, a `name` field, and a name unique per owner: the API finds a
  project by owner and name, and only the database can refuse a second one.
- The API's authentication and permission classes (POLYFLOW's
  AUTHENTICATION_CLASSES and PERMISSION_CLASSES) can be imported, and token
  authentication has its app (`rest_framework.authtoken`) installed.
- The airflow backend has the Airflow API's URL and the DAG folder it writes to.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .models.project import PROJECT_MODEL_SETTING, project_model_name

TOKEN_AUTHENTICATION = "rest_framework.authentication.TokenAuthentication"
SUBCLASS_HINT = ("Subclass polyflow.models.AbstractProject, and give a Meta of your own as "
                 "`class Meta(AbstractProject.Meta)` so that its constraint is kept.")


@checks.register(checks.Tags.models)
def check_project_model(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    name = project_model_name()
    try:
        model = apps.get_model(name, require_ready=False)
    except (ValueError, LookupError):
        return [checks.Error(
            f"settings.{PROJECT_MODEL_SETTING} = {name!r} is not an installed model",
            hint="Give 'app_label.ModelName' of a model whose app is in INSTALLED_APPS.",
            id="polyflow.E001")]
    if app_configs is not None and model._meta.app_config not in app_configs:
        return []  # `check some_other_app`: not asked about
    where = f"{PROJECT_MODEL_SETTING} {model._meta.label}"
    errors = []
    owner = _field(model, "owner")
    if owner is None or not isinstance(owner, models.ForeignKey):
        errors.append(checks.Error(
            f"{where} has no `owner` foreign key" + (f" (its `owner` is a {type(owner).__name__})" if owner else ""),
            hint="Polyflow scopes projects by owner: add `owner = ForeignKey(settings.AUTH_USER_MODEL, ...)`. "
                 + SUBCLASS_HINT,
            obj=model, id="polyflow.E002"))
    elif owner.related_model is not None and owner.related_model._meta.label != _user_model_label():
        errors.append(checks.Error(
            f"{where}.owner points to {owner.related_model._meta.label}, not to the user model "
            f"{settings.AUTH_USER_MODEL}",
            hint="Make `owner` a ForeignKey to settings.AUTH_USER_MODEL. " + SUBCLASS_HINT,
            obj=model, id="polyflow.E002"))
    name_field = _field(model, "name")
    if name_field is None or not isinstance(name_field, models.CharField):
        errors.append(checks.Error(
            f"{where} has no `name` text field" + (f" (its `name` is a {type(name_field).__name__})"
                                                   if name_field else ""),
            hint="Polyflow names projects in its URLs ({owner}/{name}/): add `name = CharField(max_length=63)`. "
                 + SUBCLASS_HINT,
            obj=model, id="polyflow.E003"))
    if not errors and not _unique_per_owner(model):
        errors.append(checks.Error(
            f"{where} does not make `name` unique per owner",
            hint="Declare UniqueConstraint(fields=['owner', 'name'], ...) in its Meta.constraints (without a "
                 "condition): without it two projects of one name can be created and the API reaches only "
                 "one of them. " + SUBCLASS_HINT,
            obj=model, id="polyflow.E004"))
    return errors


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _user_model_label() -> str:
    try:
        return apps.get_model(settings.AUTH_USER_MODEL, require_ready=False)._meta.label
    except (ValueError, LookupError):
        return settings.AUTH_USER_MODEL  # Django's own check reports it


def _unique_per_owner(model) -> bool:
    """Whether the database refuses two rows of one (owner, name), whatever else they hold."""
    wanted = {"owner", "name"}
    meta = model._meta
    for constraint in meta.total_unique_constraints:  # unconditional, on fields (not expressions)
        if set(constraint.fields) <= wanted:
            return True
    if any(set(fields) <= wanted for fields in meta.unique_together):
        return True
    # A name unique across all owners is unique per owner too.
    return bool(meta.get_field("name").unique)


@checks.register(checks.Tags.security)
def check_api_classes(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    from .conf import polyflow_settings

    errors = []
    for key in ("AUTHENTICATION_CLASSES", "PERMISSION_CLASSES"):
        for path in getattr(polyflow_settings, key):
            try:
                import_string(path)
            except ImportError as error:
                errors.append(checks.Error(
                    f"POLYFLOW[{key!r}] names {path!r}, which cannot be imported: {error}",
                    hint="Give the dotted path of a DRF class, e.g. "
                         + ("rest_framework.authentication.TokenAuthentication." if key == "AUTHENTICATION_CLASSES"
                            else "rest_framework.permissions.IsAuthenticated."),
                    id="polyflow.E005"))
    if TOKEN_AUTHENTICATION in polyflow_settings.AUTHENTICATION_CLASSES and not apps.is_installed(
            "rest_framework.authtoken"):
        errors.append(checks.Error(
            "POLYFLOW['AUTHENTICATION_CLASSES'] has TokenAuthentication but 'rest_framework.authtoken' is not "
            "in INSTALLED_APPS: every request with a token would fail",
            hint="Add 'rest_framework.authtoken' to INSTALLED_APPS (and migrate), or leave "
                 "TokenAuthentication out of POLYFLOW['AUTHENTICATION_CLASSES'].",
            id="polyflow.E006"))
    return errors


@checks.register()
def check_backend_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The airflow backend cannot hand a run over without an API to call and a DAG folder to write."""
    from .conf import polyflow_settings

    if polyflow_settings.BACKEND != "airflow":
        return []
    return [checks.Error(f"POLYFLOW['BACKEND'] is 'airflow' but POLYFLOW[{key!r}] is not set",
                         hint=hint, id="polyflow.E007")
            for key, hint in (("AIRFLOW_URL", "Give the Airflow API server's URL, e.g. http://airflow:8080."),
                              ("AIRFLOW_DAGS_FOLDER", "Give the DAG folder Airflow's DAG processor reads."))
            if not getattr(polyflow_settings, key)]
