"""The ``polyflow`` command. Each command group lives in a module of its own."""

import click

from polyflow import __version__
from polyflow.cli.manage import manage
from polyflow.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyflow")
def main():
    """Polyflow: container-native machine-learning pipelines."""


main.add_command(validate)
main.add_command(manage)
