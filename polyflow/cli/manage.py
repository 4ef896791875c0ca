import click

from polyflow.cli.django_setup import (
    configuration_errors_as_usage_errors,
    import_settings_module,
    use_standalone_settings_by_default,
)


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        # --help belongs to Django: `polyflow manage migrate --help` shows migrate's help.
        "help_option_names": [],
    }
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args):
    """Run a Django management command (migrate, createsuperuser, drf_create_token, ...)."""
    # No django.setup() here: Django's own command line handles --settings and
    # --pythonpath first and sets itself up afterwards.
    use_standalone_settings_by_default()
    from django.core.management import execute_from_command_line

    with configuration_errors_as_usage_errors():
        if not any(arg == "--settings" or arg.startswith("--settings=") for arg in args):
            import_settings_module()  # else Django imports the one given, and says what is wrong with it
        execute_from_command_line(["polyflow manage", *args])
