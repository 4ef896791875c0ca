"""Label and field selectors, parsed and matched the way the API server does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .validation import label_key_errors, label_value_errors

Matcher = Callable[[Mapping[str, str]], bool]


class SelectorError(ValueError):
    """A selector the API server would refuse (400 BadRequest)."""


_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise SelectorError(f"unable to parse requirement: {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _check_key(key: str) -> None:
    problems = label_key_errors(key)
    if problems:
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}: {'; '.join(problems)}")


def _check_value(value: str) -> None:
    problems = label_value_errors(value)
    if problems:
        raise SelectorError(f"unable to parse requirement: invalid label value {value!r}: {'; '.join(problems)}")


def parse_label_selector(text: str | None) -> Matcher:
    """A function telling whether a pod's labels match `text`.

    Equality-based (`k=v`, `k==v`, `k!=v`), existence (`k`, `!k`) and
    set-based (`k in (a,b)`, `k notin (a,b)`) requirements, joined by commas
    (AND). `k!=v` and `k notin (...)` also match pods without the label, as
    in Kubernetes.
    """
    if text is None or not text.strip():
        return lambda labels: True
    tokens = _tokens(text)
    requirements: list[Matcher] = []
    index = 0

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise SelectorError(f"unable to parse requirement: unexpected end of {text!r}")
        index += 1
        return tokens[index - 1]

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    while True:
        token = take()
        if token == "!":
            key = take()
            _check_key(key)
            requirements.append(lambda labels, key=key: key not in labels)
        elif token in ("(", ")", ",", "=", "==", "!="):
            raise SelectorError(f"unable to parse requirement: unexpected {token!r} in {text!r}")
        else:
            key = token
            _check_key(key)
            operator = peek()
            if operator in (None, ","):
                requirements.append(lambda labels, key=key: key in labels)
            elif operator in ("=", "==", "!="):
                take()
                value = peek()
                if value in (None, ","):  # `k=` selects an empty value
                    value = ""
                else:
                    value = take()
                    if value in ("(", ")", "=", "==", "!=", "!"):
                        raise SelectorError(f"unable to parse requirement: unexpected {value!r} in {text!r}")
                _check_value(value)
                if operator == "!=":
                    requirements.append(lambda labels, key=key, value=value: labels.get(key) != value)
                else:
                    requirements.append(lambda labels, key=key, value=value: labels.get(key) == value)
            elif operator in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError(f"unable to parse requirement: expected '(' after {operator!r} in {text!r}")
                values: set[str] = set()
                while True:
                    value = take()
                    if value == ")" and not values:
                        raise SelectorError(f"unable to parse requirement: empty set for {key!r}")
                    if value in ("(", ")", ",", "=", "==", "!=", "!"):
                        raise SelectorError(f"unable to parse requirement: unexpected {value!r} in {text!r}")
                    _check_value(value)
                    values.add(value)
                    separator = take()
                    if separator == ")":
                        break
                    if separator != ",":
                        raise SelectorError(f"unable to parse requirement: expected ',' or ')' in {text!r}")
                if operator == "in":
                    requirements.append(lambda labels, key=key, values=frozenset(values): labels.get(key) in values)
                else:
                    requirements.append(
                        lambda labels, key=key, values=frozenset(values): labels.get(key) not in values
                    )
            else:
                raise SelectorError(f"unable to parse requirement: unexpected {operator!r} after {key!r}")
        following = peek()
        if following is None:
            break
        if take() != ",":
            raise SelectorError(f"unable to parse requirement: expected ',' in {text!r}")

    def matches(labels: Mapping[str, str]) -> bool:
        return all(requirement(labels) for requirement in requirements)

    return matches


# The field labels the API server accepts for pods.
POD_FIELDS: dict[str, Callable[[dict], str]] = {
    "metadata.name": lambda pod: pod["metadata"].get("name", ""),
    "metadata.namespace": lambda pod: pod["metadata"].get("namespace", ""),
    "spec.nodeName": lambda pod: pod["spec"].get("nodeName", ""),
    "spec.restartPolicy": lambda pod: pod["spec"].get("restartPolicy", ""),
    "spec.schedulerName": lambda pod: pod["spec"].get("schedulerName", ""),
    "spec.serviceAccountName": lambda pod: pod["spec"].get("serviceAccountName", ""),
    "spec.hostNetwork": lambda pod: "true" if pod["spec"].get("hostNetwork") else "false",
    "status.phase": lambda pod: pod.get("status", {}).get("phase", ""),
    "status.podIP": lambda pod: pod.get("status", {}).get("podIP", ""),
    "status.nominatedNodeName": lambda pod: pod.get("status", {}).get("nominatedNodeName", ""),
}


def parse_field_selector(text: str | None) -> Callable[[dict], bool]:
    """A function telling whether a pod matches the field selector `text` (`f=v`, `f==v`, `f!=v`, comma AND)."""
    if text is None or not text.strip():
        return lambda pod: True
    requirements = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(.*)", part)
        if not match:
            raise SelectorError(f"invalid selector: {text!r}; can't understand {part!r}")
        field, operator, value = match.groups()
        if field not in POD_FIELDS:
            raise SelectorError(f'field label not supported: {field}')
        getter = POD_FIELDS[field]
        if operator == "!=":
            requirements.append(lambda pod, getter=getter, value=value: getter(pod) != value)
        else:
            requirements.append(lambda pod, getter=getter, value=value: getter(pod) == value)
    return lambda pod: all(requirement(pod) for requirement in requirements)
