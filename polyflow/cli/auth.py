"""`polyflow login` and `polyflow logout`: the server and token that remote mode uses (docs/cli.md)."""

from __future__ import annotations

import click


@click.command()
@click.option("--server", "server_url", required=True, metavar="URL",
              help="The Polyflow server, e.g. http://polyflow.example.com:8000.")
@click.option("--username", metavar="NAME",
              help="Log in with your username and password: the server gives your API token. The password "
                   "is asked for (hidden), or read from stdin with --password-stdin.")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="With --username: read the password from stdin (its first line), e.g. in a script.")
@click.option("--token", "given_token", metavar="TOKEN",
              help="An API token (`polyflow manage drf_create_token USER` on the server). Without --token "
                   "and --username: on a terminal, your username and password are asked for; otherwise a "
                   "token is read from stdin.")
def login(server_url: str, username: str | None, password_stdin: bool, given_token: str | None) -> None:
    """Log in to a Polyflow server and store its token for the next commands.

    With a username and password the server's token endpoint
    (POST /api/v1/token/) gives your API token; with --token the token is
    checked. Both are written to $XDG_CONFIG_HOME/polyflow/credentials.json
    (default ~/.config/polyflow/credentials.json), readable by you only: the
    password is not stored. Then `runs`, `logs`, `trigger`, `pipelines`,
    `events` and `backfill` work against that server, until `polyflow logout`
    (--server and POLYFLOW_SERVER still come first).
    """
    from polyflow.cli import remote

    server = remote.normalize(server_url)
    if given_token is not None and (username is not None or password_stdin):
        raise click.UsageError("--token, or --username (and its password): not both")
    if password_stdin and username is None:
        raise click.UsageError("--password-stdin goes with --username")
    stdin = click.get_text_stream("stdin")
    if given_token is None and username is None and stdin.isatty():
        username = click.prompt("Username")
    if username is not None:
        if not username.strip():
            raise click.UsageError("an empty --username")
        if password_stdin or not stdin.isatty():
            password = stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True)
        if not password:
            raise click.UsageError("no password given: type it when asked, or give it on stdin with --password-stdin")
        answer = remote.Client(server, None).post(remote.TOKEN, {"username": username.strip(), "password": password})
        token = answer["token"]
    else:
        token = given_token if given_token is not None else stdin.readline()
        token = token.strip()
        if not token:
            raise click.UsageError("no token given: --token TOKEN, the token on stdin, or --username")
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
