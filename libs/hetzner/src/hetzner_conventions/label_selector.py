"""The ``label_selector`` query parameter: parsed into requirements, matched against labels.

Grammar (Hetzner's, which is Kubernetes' set-based selector)::

    selector    := requirement ("," requirement)*          -- every requirement must hold
    requirement := KEY ("=" | "==") VALUE                  -- the label is present with that value
                 | KEY "!=" VALUE                          -- the label is absent or has another value
                 | KEY                                     -- the label is present
                 | "!" KEY                                 -- the label is absent
                 | KEY "in" "(" VALUE ("," VALUE)* ")"     -- present with one of the values
                 | KEY "notin" "(" VALUE ("," VALUE)* ")"  -- absent, or none of the values

Keys and values follow Hetzner's label rules: a key is ``[prefix/]name``, the name (and
every value) at most 63 characters of ``[a-zA-Z0-9._-]`` starting and ending alphanumeric,
the prefix a DNS subdomain; a value may be empty (``k=``). Blanks around tokens are allowed.
``!=`` and ``notin`` also select resources without the key, as in Kubernetes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cpshared.errors import InvalidInput
from hetzner_conventions.errors import invalid_field

PARAMETER = "label_selector"

_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$")
_PREFIX = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_WORD = re.compile(r"[A-Za-z0-9._/-]+")
_NAME_RULE = "at most 63 letters, digits, '.', '_' or '-', starting and ending alphanumeric"

Operator = Literal["=", "!=", "exists", "!exists", "in", "notin"]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case "=" | "in":
                return present and labels[self.key] in self.values
            case "!=" | "notin":
                return not present or labels[self.key] not in self.values
            case "exists":
                return present
            case "!exists":
                return not present
        raise AssertionError(self.operator)  # pragma: no cover


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every requirement holds (an empty selector selects everything)."""
        return all(requirement.matches(labels) for requirement in self.requirements)


@dataclass(frozen=True)
class _Token:
    kind: Literal["word", "op", "(", ")", ",", "end"]
    text: str
    position: int  # 1-based column, for messages


def _error(text: str, position: int, problem: str) -> InvalidInput:
    return invalid_field(PARAMETER, f"label_selector {text!r}: {problem} at position {position}")


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if text.startswith(("==", "!="), i):
            tokens.append(_Token("op", text[i : i + 2], i + 1))
            i += 2
        elif char in "=!":
            tokens.append(_Token("op", char, i + 1))
            i += 1
        elif char in "(),":
            tokens.append(_Token(char, char, i + 1))  # type: ignore[arg-type]
            i += 1
        elif word := _WORD.match(text, i):
            tokens.append(_Token("word", word.group(), i + 1))
            i = word.end()
        else:
            raise _error(text, i + 1, f"unexpected character {char!r}")
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _check_key(text: str, token: _Token) -> str:
    key = token.text
    prefix, slash, name = key.rpartition("/")
    if slash and not _PREFIX.match(prefix):
        raise _error(text, token.position, f"key prefix {prefix!r} is not a DNS subdomain")
    if not _NAME.match(name):
        raise _error(
            text,
            token.position,
            f"key {key!r} must be {_NAME_RULE}",
        )
    return key


def _check_value(text: str, token: _Token) -> str:
    if "/" in token.text or not _NAME.match(token.text):
        raise _error(
            text,
            token.position,
            f"value {token.text!r} must be {_NAME_RULE}",
        )
    return token.text


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise _error(self.text, token.position, f"expected {what}, found {_describe(token)}")
        return token

    def selector(self) -> LabelSelector:
        requirements = [self.requirement()]
        while self.peek().kind == ",":
            self.take()
            requirements.append(self.requirement())
        end = self.peek()
        if end.kind != "end":
            raise _error(self.text, end.position, f"expected ',' or the end, found {_describe(end)}")
        return LabelSelector(tuple(requirements))

    def requirement(self) -> Requirement:
        first = self.peek()
        if first.kind == "op" and first.text == "!":
            self.take()
            return Requirement(_check_key(self.text, self.expect("word", "a label key after '!'")), "!exists")
        key = _check_key(self.text, self.expect("word", "a label key"))
        following = self.peek()
        if following.kind in (",", "end"):
            return Requirement(key, "exists")
        if following.kind == "op" and following.text in ("=", "==", "!="):
            self.take()
            return Requirement(key, "!=" if following.text == "!=" else "=", (self.optional_value(),))
        if following.kind == "word" and following.text in ("in", "notin"):
            self.take()
            return Requirement(key, "in" if following.text == "in" else "notin", self.value_set())
        expected = "'=', '==', '!=', 'in' or 'notin'"
        raise _error(self.text, following.position, f"expected {expected} after {key!r}, found {_describe(following)}")

    def optional_value(self) -> str:
        # "k=" selects the empty value, which Hetzner labels may have.
        if self.peek().kind in (",", "end"):
            return ""
        return _check_value(self.text, self.expect("word", "a label value"))

    def value_set(self) -> tuple[str, ...]:
        self.expect("(", "'(' to open the list of values")
        values = [_check_value(self.text, self.expect("word", "a label value"))]
        while self.peek().kind == ",":
            self.take()
            values.append(_check_value(self.text, self.expect("word", "a label value")))
        self.expect(")", "',' or ')' to close the list of values")
        return tuple(values)


def _describe(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``text``; None or blank selects everything. Raises ``InvalidInput`` saying where it is wrong."""
    if text is None or not text.strip():
        return LabelSelector(())
    return _Parser(text).selector()
