"""`polyflow events fire NAME [--owner USER] [--payload JSON]`: fire a registry event."""

from __future__ import annotations

import json

import click

from polyflow.cli.django_setup import command_errors, input_refused, setup_database


def _payload(ctx, param, value: str | None):
    if value is None:
        return {}
    try:
        payload = json.loads(value)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise click.BadParameter('expected a JSON object of the event\'s inputs, e.g. \'{"path": "s3://b/x"}\'')
    return payload


@click.group()
def events() -> None:
    """Fire registry events."""


@events.command("fire")
@click.argument("name")
@click.option("--owner", metavar="USER",
              help="Whose registry the event is in; needed only when several owners have an event of that name.")
@click.option("--payload", callback=_payload, metavar="JSON",
              help="The event's inputs as a JSON object (default: {}); checked against its inputs, completed "
                   "with their defaults.")
def fire(name, owner, payload) -> None:
    """Fire event NAME: one run of each unpaused pipeline subscribed to it.

    The payload goes to every op whose template has an input of the same
    name. Prints the runs triggered.

    Exit status: 0 when fired (even with no subscriber), 1 when refused (an
    unknown event, a payload its inputs refuse), 2 on usage errors (a payload
    that is no JSON object).
    """
    from polyflow.cli import remote

    api = remote.client()
    if api is not None:
        # The API has no list of every owner's events: the signed-in user's registry, unless --owner.
        owner = owner or api.user()
        fired = api.post(f"{owner}/events/{name}/fire/", {"payload": payload}, refused="nothing was triggered.")
        _echo_fired(fired["event"], owner, [f"run {run['uuid']} of {run['owner']}/{run['project']}/"
                                            f"{run['pipeline']}: triggered" for run in fired["runs"]])
        return
    setup_database()
    from polyflow.selectors.lookup import find_event, run_path
    from polyflow.services.events import fire_event

    with command_errors():
        event = find_event(name, owner=owner)
        with input_refused("nothing was triggered."):
            runs = fire_event(event.owner, event.name, payload)
        lines = [f"run {run.uuid} of {run_path(run)}: triggered" for run in runs]
    _echo_fired(event.name, event.owner.get_username(), lines)


def _echo_fired(event: str, owner: str, lines: list[str]) -> None:
    count = len(lines)
    click.echo(f"event {event} of {owner}: fired, {count} run{'s' if count != 1 else ''} triggered")
    for line in lines:
        click.echo(f"  {line}")
