"""`polyflow login` and `polyflow logout`: the server and token that remote mode uses (docs/cli.md)."""

from __future__ import annotations

import click


@click.command()
@click.option("--server", "server_url", required=True, metavar="URL",
              help="The Polyflow server, e.g. http://polyflow.example.com:8000.")
@click.option("--token", "given_token", metavar="TOKEN",
              help="An API token (`polyflow manage drf_create_token USER` on the server); default: read from "
                   "stdin (asked for, hidden, on a terminal).")
def login(server_url: str, given_token: str | None) -> None:
    """Check a token against a Polyflow server and store both for the next commands.

    They are written to $XDG_CONFIG_HOME/polyflow/credentials.json (default
    ~/.config/polyflow/credentials.json), readable by you only. Then `runs`,
    `logs`, `trigger`, `pipelines`, `events` and `backfill` work against that server, until
    `polyflow logout` (--server and POLYFLOW_SERVER still come first).
    """
    from polyflow.cli import remote

    server = remote.normalize(server_url)
    token = given_token
    if token is None:
        stdin = click.get_text_stream("stdin")
        token = click.prompt("Token", hide_input=True) if stdin.isatty() else stdin.readline()
    token = token.strip()
    if not token:
        raise click.UsageError("no token given: --token TOKEN, or the token on stdin")
    user = remote.Client(server, token).user()
    path = remote.write_credentials(server, token)
    click.echo(f"logged in to {server} as {user} (stored in {path})")


@click.command()
def logout() -> None:
    """Forget the server and token `polyflow login` stored: commands use the database again."""
    from polyflow.cli import remote

    path = remote.credentials_path()
    stored = remote.read_credentials()
    try:
        path.unlink()
    except FileNotFoundError:
        click.echo("not logged in: nothing to forget")
        return
    click.echo(f"logged out of {stored.get('server') or 'the server'} (removed {path})")
