from django import template

from ..ui.artifacts import run_rows

register = template.Library()


@register.simple_tag
def run_artifacts(run, project) -> dict:
    """The run's artifacts and cached ops, for the run page's partial (_artifacts.html)."""
    return run_rows(run, project)
