"""The ``polyflow`` command. Each command group lives in a module of its own."""

import click

from polyflow import __version__
from polyflow.cli.apply import apply
from polyflow.cli.logs import logs
from polyflow.cli.manage import manage
from polyflow.cli.run import run
from polyflow.cli.runs import runs
from polyflow.cli.server import server
from polyflow.cli.tick import tick
from polyflow.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyflow")
def main():
    """Polyflow: container-native machine-learning pipelines."""


main.add_command(validate)
main.add_command(manage)
main.add_command(apply)
main.add_command(tick)
main.add_command(runs)
main.add_command(logs)
main.add_command(run)
main.add_command(server)
