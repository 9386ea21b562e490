"""Parameter schemas: one description per node parameter, used both to check
loaded files and (from step 2) to generate the inspector's forms."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from typing import Any

INT = "int"
FLOAT = "float"
BOOL = "bool"
STR = "str"
CHOICE = "choice"
SHAPE = "shape"  # list of dims, each an int >= 1 or None (unknown)
INTS = "ints"  # list of ints
STRS = "strs"  # list of strings
PATH = "path"  # a file path, relative to the project file
JSON = "json"  # a JSON object (a Keras layer config)

KINDS = (INT, FLOAT, BOOL, STR, CHOICE, SHAPE, INTS, STRS, PATH, JSON)


class ParamError(ValueError):
    """A parameter value that its schema refuses; `detail` says what was expected and
    `param` names the parameter (so a file error can say `nodes[3].params.units: …`)."""

    def __init__(self, detail: str, param: str | None = None):
        self.detail, self.param = detail, param
        super().__init__(f"{param}: {detail}" if param else detail)


def place(where: str, key: str) -> str:
    """Where `key` of the object at `where` is, as messages name it: `nodes[0].params.units`, or
    `nodes[0].params["a\\nb"]` for a key with a newline or another unprintable character, so
    that the message stays on one line."""
    if key.isprintable():
        return f"{where}.{key}" if where else key
    return f"{where}[{describe(key)}]"


DESCRIBED_CHARACTERS = 80  # of a value in a message: a file's value may be megabytes long


def describe(value: Any) -> str:
    """A value as the user wrote it, for error messages; a long one is cut, its length said."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    except RecursionError:
        return "a value nested too deeply to show"
    if len(text) <= DESCRIBED_CHARACTERS:
        return text
    return f"{text[:DESCRIBED_CHARACTERS]}… ({len(text):,} characters)"


def printable(text: str, limit: int = DESCRIBED_CHARACTERS) -> str:
    """A name, port or path as a message shows it, on one line: unprintable characters
    escaped, a long one cut in the middle (its end, often a suffix, stays readable)."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]}…{text[head - limit + 1:]}"


MAX_OPTIONS_SHOWN = 8  # choices listed in a message; more would make it several lines long
LISTED_NAMES_CHARACTERS = 160  # an unknown key's message lists every known name up to this long


def options(choices, value) -> str:
    """The choices a message offers: all of a few, or the closest of many and their count."""
    if len(choices) <= MAX_OPTIONS_SHOWN:
        return ", ".join(describe(c) for c in choices)
    texts = {str(c): c for c in choices}
    likely = difflib.get_close_matches(value[:100], texts, n=3, cutoff=0.5) if isinstance(value, str) else []
    shown = ", ".join(describe(texts[t]) for t in likely) or ", ".join(describe(c) for c in choices[:3])
    return f"{shown}, … ({len(choices)} in all)"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None  # of a number; of a list (SHAPE, INTS, STRS): its length
    maximum: float | None = None
    choices: tuple = ()
    optional: bool = False  # None is allowed ("not set")
    exclusive_maximum: bool = False
    files: tuple[str, ...] = ()  # a PATH's file types: a description, then its suffixes
    item_minimum: int | None = None  # of each integer in a SHAPE or INTS list
    item_maximum: int | None = None
    labels: tuple[str, ...] = ()  # how the editor names the choices, one each (empty: as they are)
    # Other names accepted for a CHOICE or a STRS item, each checked into the choice it stands for
    aliases: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if self.labels and len(self.labels) != len(self.choices):
            raise ValueError(f"{self.name}: one label per choice")
        if not set(self.aliases.values()) <= set(self.choices):
            raise ValueError(f"{self.name}: an alias stands for a choice")

    def check(self, value: Any) -> Any:
        """Return the value in canonical form, or raise ParamError saying what was expected."""
        if value is None and self.optional:
            return None
        checker = getattr(self, f"_check_{self.kind}")
        return checker(value)

    def _range_text(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f">= {_num(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.exclusive_maximum else '<='} {_num(self.maximum)}")
        return " and ".join(parts)

    def _in_range(self, number: float) -> bool:
        if self.minimum is not None and number < self.minimum:
            return False
        if self.maximum is None:
            return True
        return number < self.maximum or (number == self.maximum and not self.exclusive_maximum)

    def _fail(self, expected: str, value: Any):
        if self.optional:
            expected += " or null"
        raise ParamError(f"expected {expected}, got {describe(value)}")

    def _check_int(self, value):
        number = value  # the message quotes the value as written: 1e+30, not its 31 digits
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                number = int(value)
            else:
                self._fail(_with_range("an integer", self._range_text()), value)
        if not self._in_range(number):
            self._fail(_with_range("an integer", self._range_text()), value)
        return number

    def _check_float(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value):
            self._fail(_with_range("a number", self._range_text()), value)
        if not self._in_range(value):
            self._fail(_with_range("a number", self._range_text()), value)
        return float(value)

    def _check_bool(self, value):
        if not isinstance(value, bool):
            self._fail("true or false", value)
        return value

    def _check_str(self, value):
        if not isinstance(value, str):
            self._fail("a string", value)
        return value

    def _check_path(self, value):
        if not isinstance(value, str):
            self._fail("a file path", value)
        return value

    def _check_choice(self, value):
        if isinstance(value, str):
            value = self.aliases.get(value, value)
        if not any(value == c and type(value) is type(c) for c in self.choices):
            self._fail(f"one of {options(self.choices, value)}", value)
        return value

    def _check_shape(self, value):
        most = f" <= {_num(self.item_maximum)}" if self.item_maximum is not None else ""
        expected = f"a shape: a list of positive integers{most} or null (unknown)"
        if not isinstance(value, (list, tuple)):
            self._fail(expected, value)
        self._check_length(value, "a shape with", "dimension(s)")
        for dim in value:
            if dim is None:
                continue
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or \
                    not self._item_in_range(dim):
                self._fail(expected, value)
        return list(value)

    def _check_ints(self, value):
        expected = _with_range("a list of integers", _span(self.item_minimum, self.item_maximum))
        if not isinstance(value, (list, tuple)):
            self._fail(expected, value)
        self._check_length(value, "a list of", "integer(s)")
        if any(isinstance(v, bool) or not isinstance(v, int) or not self._item_in_range(v)
               for v in value):
            self._fail(expected, value)
        return list(value)

    def _check_length(self, value, what: str, unit: str) -> None:
        """A list's length against minimum and maximum, checked before its items so that a
        list of a million items is refused for its length at once."""
        if self.minimum is not None and len(value) < self.minimum:
            self._fail(f"{what} at least {_num(self.minimum)} {unit}", value)
        if self.maximum is not None and len(value) > self.maximum:
            self._fail(f"{what} at most {_num(self.maximum)} {unit}", value)

    def _item_in_range(self, item: int) -> bool:
        return (self.item_minimum is None or item >= self.item_minimum) and \
            (self.item_maximum is None or item <= self.item_maximum)

    def _check_strs(self, value):
        if not isinstance(value, (list, tuple)) or any(not isinstance(v, str) for v in value):
            self._fail("a list of strings", value)
        if not self.choices:
            return list(value)
        items = list(dict.fromkeys(self.aliases.get(item, item) for item in value))  # each once
        for item in items:
            if item not in self.choices:
                self._fail(f"a list drawn from {options(self.choices, item)}", value)
        return items

    def _check_json(self, value):
        if not isinstance(value, dict):
            self._fail("a JSON object", value)
        try:  # NaN and infinity are no JSON: a file could not hold them
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            self._fail("a JSON object of finite numbers", value)

    def to_dict(self) -> dict:
        """The schema as plain data (for docs and the editor)."""
        data = {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help}
        if self.minimum is not None:
            data["minimum"] = self.minimum
        if self.maximum is not None:
            data["maximum"] = self.maximum
        if self.choices:
            data["choices"] = list(self.choices)
        if self.item_minimum is not None:
            data["item_minimum"] = self.item_minimum
        if self.item_maximum is not None:
            data["item_maximum"] = self.item_maximum
        if self.optional:
            data["optional"] = True
        return data


def finite(value: float) -> bool:
    """math.isfinite that also answers False for integers too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _with_range(what: str, range_text: str) -> str:
    return f"{what} {range_text}" if range_text else what


def _span(low: float | None, high: float | None) -> str:
    """`>= 1 and <= 8192`: the range text of a list's items."""
    parts = ([f">= {_num(low)}"] if low is not None else []) + \
        ([f"<= {_num(high)}"] if high is not None else [])
    return " and ".join(parts)


def check_params(schema: tuple[Param, ...], values: dict) -> dict:
    """Fill defaults and check every value; raise ParamError prefixed with the parameter name."""
    if not isinstance(values, dict):
        raise ParamError(f"expected an object of parameters, got {describe(values)}")
    known = {p.name for p in schema}
    for name in values:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            if len(allowed) > LISTED_NAMES_CHARACTERS:  # the nearest names, so the message stays one line
                allowed = options(sorted(known), name)
            raise ParamError(f"unknown parameter (this node takes: {allowed})", name)
    checked = {}
    for param in schema:
        value = values.get(param.name, param.default)
        try:
            checked[param.name] = param.check(value)
        except ParamError as error:
            raise ParamError(error.detail, param.name) from None
    return checked
