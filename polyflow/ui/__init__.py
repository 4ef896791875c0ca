"""The dashboard: server-rendered pages of projects, pipelines and runs under ui/.

Reads go through polyflow.selectors; every button acts through the public REST
API (docs/api.md) from a small script, with the session's CSRF token.
"""
