import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from polyflow.conf import DEFAULTS, PolyflowSettings, environ_setting, polyflow_settings, settings_from_environ
from polyflow.spec.compiler import DEFAULT_MAX_TRIALS


def test_defaults():
    conf = PolyflowSettings({})
    assert conf.HOME == os.path.expanduser("~/.polyflow")
    assert conf.BACKEND == "local"
    assert conf.MAX_CONCURRENCY == 0
    assert conf.TICK_INTERVAL == 5


def test_every_default_has_a_type_the_parsers_know():
    # settings_from_environ and the type check infer the type from the default:
    # a new key with a default of None or a tuple would silently accept anything.
    for key, default in DEFAULTS.items():
        assert type(default) in (str, int, bool, float, dict, list), key


def test_reads_django_settings(settings, tmp_path):
    settings.POLYFLOW = {"HOME": str(tmp_path), "BACKEND": "kubernetes"}
    assert polyflow_settings.HOME == str(tmp_path)
    assert polyflow_settings.BACKEND == "kubernetes"
    assert polyflow_settings.TICK_INTERVAL == 5


def test_home_is_expanded():
    assert PolyflowSettings({"HOME": "~/elsewhere"}).HOME == os.path.expanduser("~/elsewhere")


def test_override_reloads_and_restores():
    assert polyflow_settings.MAX_CONCURRENCY == 0  # cached before the override
    with override_settings(POLYFLOW={"MAX_CONCURRENCY": 3}):
        assert polyflow_settings.MAX_CONCURRENCY == 3
    assert polyflow_settings.MAX_CONCURRENCY == 0


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="Invalid Polyflow setting: 'NOPE'"):
        polyflow_settings.NOPE  # noqa: B018


@pytest.mark.parametrize(
    "key, suggestion",
    [("MAX_CONCURENCY", "MAX_CONCURRENCY"), ("backend", "BACKEND"), ("TICK", None)],
)
def test_unknown_key_names_it_and_the_closest_key(settings, key, suggestion):
    settings.POLYFLOW = {key: 1}
    with pytest.raises(ImproperlyConfigured) as exc:
        polyflow_settings.BACKEND  # noqa: B018
    message = str(exc.value)
    assert message.startswith(f"Unknown key {key!r} in settings.POLYFLOW")
    if suggestion:
        assert f"did you mean {suggestion!r}?" in message
    else:
        assert "did you mean" not in message
    assert f"(valid keys: {', '.join(sorted(DEFAULTS))})" in message
    assert "BACKEND, " in message and "TICK_INTERVAL" in message


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("MAX_CONCURRENCY", "4", "settings.POLYFLOW['MAX_CONCURRENCY'] = '4': expected an integer"),
        # bool is an int subclass; True must not pass as 1.
        (
            "MAX_CONCURRENCY",
            True,
            "settings.POLYFLOW['MAX_CONCURRENCY'] = True: expected an integer",
        ),
        ("TICK_INTERVAL", 2.5, "settings.POLYFLOW['TICK_INTERVAL'] = 2.5: expected an integer"),
        ("TICK_INTERVAL", 0, "settings.POLYFLOW['TICK_INTERVAL'] = 0: expected at least 1"),
        ("MAX_CONCURRENCY", -1, "settings.POLYFLOW['MAX_CONCURRENCY'] = -1: expected at least 0"),
        ("HOME", None, "settings.POLYFLOW['HOME'] = None: expected a string"),
        (
            "BACKEND",
            "k8s",
            "settings.POLYFLOW['BACKEND'] = 'k8s': expected one of local, kubernetes, airflow",
        ),
    ],
)
def test_bad_value_names_key_value_and_expectation(key, value, message):
    with pytest.raises(ImproperlyConfigured) as exc:
        getattr(PolyflowSettings({key: value}), key)
    assert str(exc.value) == message


def test_polyflow_must_be_a_dict():
    with pytest.raises(ImproperlyConfigured, match="settings.POLYFLOW must be a dict, not list"):
        PolyflowSettings([]).HOME  # noqa: B018


def test_settings_from_environ_parses_by_default_type():
    environ = {
        "POLYFLOW_HOME": "/srv/polyflow",
        "POLYFLOW_BACKEND": "kubernetes",
        "POLYFLOW_MAX_CONCURRENCY": " 12 ",
        "POLYFLOW_TICK_INTERVAL": "1",
    }
    assert settings_from_environ(environ) == {
        "HOME": "/srv/polyflow",
        "BACKEND": "kubernetes",
        "MAX_CONCURRENCY": 12,
        "TICK_INTERVAL": 1,
    }


def test_settings_from_environ_ignores_other_variables_and_empty_values():
    environ = {
        "POLYFLOW_PARAMS_FILE": "/tmp/params.json",
        "POLYFLOW_SECRET_KEY": "x",
        "POLYFLOW_BACKEND": "",
        "HOME": "/root",
        "MAX_CONCURRENCY": "abc",
    }
    assert settings_from_environ(environ) == {}


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("POLYFLOW_MAX_CONCURRENCY", "abc", "POLYFLOW_MAX_CONCURRENCY='abc': expected an integer"),
        ("POLYFLOW_TICK_INTERVAL", "1.5", "POLYFLOW_TICK_INTERVAL='1.5': expected an integer"),
        ("POLYFLOW_TICK_INTERVAL", "0", "POLYFLOW_TICK_INTERVAL='0': expected at least 1"),
        ("POLYFLOW_BACKEND", "k8s", "POLYFLOW_BACKEND='k8s': expected one of local, kubernetes, airflow"),
    ],
)
def test_settings_from_environ_errors(name, raw, message):
    with pytest.raises(ImproperlyConfigured) as exc:
        settings_from_environ({name: raw})
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "default, raw, expected",
    [
        (False, "yes", True),
        (False, "TRUE", True),
        (True, "0", False),
        (True, "off", False),
        ({}, '{"a": 1}', {"a": 1}),
        ([], '["a", "b"]', ["a", "b"]),
    ],
)
def test_settings_from_environ_bool_and_json(monkeypatch, default, raw, expected):
    # No such keys yet; add one for the duration of the test.
    monkeypatch.setitem(DEFAULTS, "EXTRA", default)
    assert settings_from_environ({"POLYFLOW_EXTRA": raw}) == {"EXTRA": expected}


@pytest.mark.parametrize(
    "default, raw, message",
    [
        (False, "maybe", "POLYFLOW_EXTRA='maybe': expected a boolean"),
        ({}, "[1]", "POLYFLOW_EXTRA='[1]': expected a JSON object"),
        ([], "{", "POLYFLOW_EXTRA='{': expected a JSON array"),
    ],
)
def test_settings_from_environ_bool_and_json_errors(monkeypatch, default, raw, message):
    monkeypatch.setitem(DEFAULTS, "EXTRA", default)
    with pytest.raises(ImproperlyConfigured) as exc:
        settings_from_environ({"POLYFLOW_EXTRA": raw})
    assert str(exc.value) == message


@given(st.integers(min_value=0, max_value=10**12))
def test_settings_from_environ_round_trips_integers(n):
    assert settings_from_environ({"POLYFLOW_MAX_CONCURRENCY": str(n)}) == {"MAX_CONCURRENCY": n}


def test_max_trials():
    assert PolyflowSettings({}).MAX_TRIALS == DEFAULTS["MAX_TRIALS"] == DEFAULT_MAX_TRIALS == 1000
    assert PolyflowSettings({"MAX_TRIALS": 50}).MAX_TRIALS == 50
    with pytest.raises(ImproperlyConfigured, match=r"^settings.POLYFLOW\['MAX_TRIALS'\] = 0: expected at least 1$"):
        _ = PolyflowSettings({"MAX_TRIALS": 0}).MAX_TRIALS


def test_environ_setting_reads_one_variable_or_the_default():
    assert environ_setting("MAX_TRIALS", {}) == 1000
    assert environ_setting("MAX_TRIALS", {"POLYFLOW_MAX_TRIALS": ""}) == 1000
    assert environ_setting("MAX_TRIALS", {"POLYFLOW_MAX_TRIALS": "20", "POLYFLOW_BACKEND": "nope"}) == 20
    with pytest.raises(ImproperlyConfigured, match=r"^POLYFLOW_MAX_TRIALS='x': expected an integer$"):
        environ_setting("MAX_TRIALS", {"POLYFLOW_MAX_TRIALS": "x"})
