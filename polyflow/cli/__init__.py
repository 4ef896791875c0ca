"""The ``polyflow`` command. Each command group lives in a module of its own.

A command's module is imported only when that command runs (or when
``polyflow --help`` lists them all), so that ``polyflow validate`` loads
neither Django nor the scheduler, and no command pays for the others.
"""

import os
from importlib import import_module

import click

from polyflow import __version__

# Each name is both the command and its module, polyflow.cli.<name>.
COMMANDS = ("apply", "backfill", "events", "export", "login", "logout", "logs", "manage", "pipelines", "run", "runs",
            "server", "tick", "trigger", "validate")
# Commands whose module is not their name.
MODULES = {"login": "auth", "logout": "auth"}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            return getattr(import_module(f"{__name__}.{MODULES.get(name, name)}"), name)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyflow")
@click.option("--settings", metavar="MODULE",
              help="A host project's Django settings module (as DJANGO_SETTINGS_MODULE), found from the "
                   "current directory; default: $DJANGO_SETTINGS_MODULE, else the standalone project.")
@click.option("--server", metavar="URL",
              help="Work against this Polyflow server over its API (`runs`, `logs`, `trigger`, `pipelines`, "
                   "`events`, `backfill`); default: $POLYFLOW_SERVER, else the server of `polyflow login`, else "
                   "the database. An empty URL means the database.")
@click.option("--token", metavar="TOKEN", help="The API token for --server; default: $POLYFLOW_TOKEN, else the "
                                               "token of `polyflow login`.")
def main(settings: str | None, server: str | None, token: str | None):
    """Polyflow: container-native machine-learning pipelines."""
    if settings:
        # In the environment, not only in this process: `polyflow manage` and the ops it starts see it too.
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
