"""Safe YAML loading that keeps source positions.

Builds plain Python data straight from libyaml's event stream (no Python composer, no object
construction beyond the YAML core schema), recording the line and column of every key and value
by path. Rejects what a bundle must never be: non-UTF-8, empty, several documents, a top level
that is not a mapping, duplicate keys, non-string keys, custom tags, alias bombs (expansion is
counted, not performed), pathological nesting and oversized files.

Most files are ordinary bundles without errors, and need no positions: a fast path builds their
data alone and leaves everything else to the positioned builder, which also finds a file's
positions the first time a diagnostic asks for one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any

import yaml

from .diagnostics import Diagnostic, Path

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 50_000  # after alias expansion; a billion-laughs document hits this at once

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_CONSTRUCT = yaml.SafeLoader.yaml_constructors


class Document:
    """A loaded bundle file: its data and where every key and value came from.

    A file loaded by the fast path (`_FastBuilder`) records no positions: only diagnostics need
    them, and most files have none. They are computed from the text, by the positioned builder,
    the first time they are asked for."""

    def __init__(
        self,
        file: str,
        data: dict[str, Any],
        positions: dict[Path, tuple[int, int]] | None = None,
        key_positions: dict[Path, tuple[int, int]] | None = None,
        *,
        text: str | None = None,
    ):
        self.file = file
        self.data = data
        self._text = text
        if text is None:
            self._positions: dict[Path, tuple[int, int]] | None = positions or {}
            self._key_positions: dict[Path, tuple[int, int]] | None = key_positions or {}
        else:
            self._positions = self._key_positions = None

    def __repr__(self) -> str:
        return f"Document(file={self.file!r}, data={self.data!r})"

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        if self._positions is None:
            self._locate()
        assert self._positions is not None
        return self._positions

    @property
    def key_positions(self) -> dict[Path, tuple[int, int]]:
        if self._key_positions is None:
            self._locate()
        assert self._key_positions is not None
        return self._key_positions

    def _locate(self) -> None:
        """Positions from the text: the fast path accepted it, so the positioned builder does too
        (it accepts a superset) and sees the same values."""
        assert self._text is not None
        located = _Builder(self.file, self._text).build()
        self._positions, self._key_positions = located.positions, located.key_positions

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of `path`, or of its nearest ancestor that has one."""
        positions, key_positions = self.positions, self.key_positions
        probe = tuple(path)
        if key and probe in key_positions:
            return key_positions[probe]
        while probe:
            if probe in positions:
                return positions[probe]
            if probe in key_positions:
                return key_positions[probe]
            probe = probe[:-1]
        return positions.get((), (1, 1))


class LoadError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(diagnostic.text())


def _fail(file: str, mark: Any, message: str, path: str = "(document)") -> LoadError:
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return LoadError(Diagnostic(file, line, column, path, message, rule="load"))


class _Builder:
    """Turns libyaml events into dicts, lists and scalars, recording positions."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.text = text
        self.loader = _Loader(text)
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0
        self.positions: dict[Path, tuple[int, int]] = {}
        self.key_positions: dict[Path, tuple[int, int]] = {}

    def build(self) -> Document:
        loader = self.loader
        try:
            loader.get_event()  # StreamStart
            if loader.check_event(yaml.StreamEndEvent):
                raise _fail(self.file, None, "the file is empty; a bundle needs apiVersion, kind, metadata and spec")
            loader.get_event()  # DocumentStart
            if loader.check_event(yaml.DocumentEndEvent):
                raise _fail(self.file, None, "the file is empty; a bundle needs apiVersion, kind, metadata and spec")
            first = loader.peek_event()
            data, _ = self._node((), 0)
            loader.get_event()  # DocumentEnd
            if not loader.check_event(yaml.StreamEndEvent):
                extra = loader.peek_event()
                raise _fail(
                    self.file,
                    extra.start_mark,
                    "the file holds more than one YAML document; put each bundle in its own file",
                )
        finally:
            loader.dispose()
        if data is None:
            raise _fail(
                self.file, first.start_mark, "the file is empty; a bundle needs apiVersion, kind, metadata and spec"
            )
        if not isinstance(data, dict):
            raise _fail(
                self.file,
                first.start_mark,
                f"the top level must be a mapping (apiVersion, kind, metadata, spec), not a {_kind(data)}",
            )
        return Document(self.file, data, self.positions, self.key_positions)

    def _count(self, amount: int, mark: Any) -> None:
        self.nodes += amount
        if self.nodes > MAX_NODES:
            raise _fail(
                self.file,
                mark,
                f"the document expands to more than {MAX_NODES} values (an alias bomb?); "
                "bundles should not need that many",
            )

    def _node(self, path: Path, depth: int, event: Any = None) -> tuple[Any, int]:
        """Returns the value and its expanded size in nodes."""
        if event is None:
            event = self.loader.get_event()
        mark = event.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self.nodes += 1
            value: Any = self._scalar(event, path)
            size = 1
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise _fail(self.file, mark, f"unknown alias *{event.anchor}")
            value, size = self.anchors[event.anchor]
            self._count(size, mark)
            return value, size
        elif depth > MAX_DEPTH:
            raise _fail(self.file, mark, f"nesting deeper than {MAX_DEPTH} levels; bundles are never that deep")
        elif kind is yaml.SequenceStartEvent:
            self._check_collection_tag(event, path)
            self._count(1, mark)
            value, size = self._sequence(path, depth)
        elif kind is yaml.MappingStartEvent:
            self._check_collection_tag(event, path)
            self._count(1, mark)
            value, size = self._mapping(path, depth)
        else:  # pragma: no cover - libyaml never yields other events here
            raise _fail(self.file, mark, f"unexpected YAML event {kind.__name__}")
        if self.nodes > MAX_NODES:
            self._count(0, mark)
        if event.anchor:
            self.anchors[event.anchor] = (value, size)
        return value, size

    def _sequence(self, path: Path, depth: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        size = 1
        get_event = self.loader.get_event
        while True:
            event = get_event()
            if type(event) is yaml.SequenceEndEvent:
                return items, size
            item, item_size = self._node((*path, len(items)), depth + 1, event)
            items.append(item)
            size += item_size

    def _mapping(self, path: Path, depth: int) -> tuple[dict[str, Any], int]:
        mapping: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        size = 1
        get_event = self.loader.get_event
        while True:
            key_event = get_event()
            if type(key_event) is yaml.MappingEndEvent:
                break
            key_mark = key_event.start_mark
            if type(key_event) is not yaml.ScalarEvent:
                template = _is_template(self.text, key_mark)
                raise _fail(
                    self.file,
                    key_mark,
                    "mlrig does not expand templates, and to YAML `{{ … }}` is a mapping inside a mapping; "
                    "write the value itself"
                    if template
                    else "mapping keys must be plain strings, not collections or aliases",
                    _path_text(path),
                )
            if key_event.tag is None and key_event.implicit[0] and key_event.value == "<<":
                value, value_size = self._node((*path, "<<"), depth + 1)
                for source in value if isinstance(value, list) else [value]:
                    if not isinstance(source, dict):
                        raise _fail(
                            self.file,
                            key_mark,
                            "a merge key (<<) needs a mapping or a list of mappings",
                            _path_text(path),
                        )
                    for k, v in source.items():
                        merged.setdefault(k, v)
                size += value_size
                continue
            key = self._scalar(key_event, path)
            if not isinstance(key, str):
                raise _fail(
                    self.file,
                    key_mark,
                    f"mapping keys must be strings; quote the key {key_event.value!r}",
                    _path_text(path),
                )
            key_path = (*path, key)
            if key in mapping:
                first_line = self.key_positions[key_path][0]
                raise _fail(
                    self.file,
                    key_mark,
                    f"duplicate key '{key}' (first defined on line {first_line}); remove one",
                    _path_text(key_path),
                )
            self.key_positions[key_path] = (key_mark.line + 1, key_mark.column + 1)
            value, value_size = self._node(key_path, depth + 1)
            mapping[key] = value
            size += value_size
        for k, v in merged.items():
            mapping.setdefault(k, v)
        return mapping, size

    def _check_collection_tag(self, event: Any, path: Path) -> None:
        if event.tag not in _COLLECTION_TAGS:
            raise _fail(
                self.file, event.start_mark, f"custom YAML tag {event.tag} is not allowed in bundles", _path_text(path)
            )

    def _scalar(self, event: yaml.ScalarEvent, path: Path) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return event.value  # quoted: always a string
            try:
                number = _core_number(event.value)
            except ValueError:  # more digits than Python converts
                raise _fail(self.file, event.start_mark, _too_many_digits(event.value), _path_text(path)) from None
            if number is not None:
                return number
            tag = _plain_tag(event.value)
            if tag in _NUMBER_TAGS:
                return event.value  # a YAML 1.1 number that YAML 1.2 reads as text (1:30, 1_000)
        if tag not in _SCALAR_TAGS:
            raise _fail(
                self.file, event.start_mark, f"custom YAML tag {tag} is not allowed in bundles", _path_text(path)
            )
        if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
            # Timestamps stay strings: bundles hold no dates, and a string is what a schema can judge.
            return event.value
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            return _CONSTRUCT[tag](self.loader, node)
        except (ValueError, yaml.YAMLError):
            name = tag.rsplit(":", 1)[-1]
            fix = f"fix it or drop the !!{name} tag" if event.tag not in (None, "!") else "quote it if it is text"
            raise _fail(
                self.file, event.start_mark, f"{event.value!r} is not a valid {name}; {fix}", _path_text(path)
            ) from None


class _Unsure(Exception):
    """The fast path met something it leaves to the positioned builder to judge."""


_ScalarEvent, _MappingStart, _MappingEnd = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
_SequenceStart, _SequenceEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent


class _FastBuilder:
    """The data of an ordinary bundle, without positions: one document whose top level is a
    mapping, string keys written once each, values of the core schema, no anchors, aliases, merge
    keys or tags, within the depth and size limits. Anything else (and any error) raises
    `_Unsure` or the parser's own error, and `_Builder` judges the text instead: this path only
    ever accepts, and only what `_Builder` accepts, with the same values."""

    def __init__(self, text: str):
        self.loader = _Loader(text)
        self.nodes = 0

    def build(self) -> dict[str, Any]:
        loader = self.loader
        try:
            get_event = loader.get_event
            if type(get_event()) is not yaml.StreamStartEvent or type(get_event()) is not yaml.DocumentStartEvent:
                raise _Unsure
            event = get_event()
            if type(event) is not _MappingStart or event.anchor is not None or event.tag is not None:
                raise _Unsure
            self.nodes = 1
            data = self._mapping(0)
            if type(get_event()) is not yaml.DocumentEndEvent or type(get_event()) is not yaml.StreamEndEvent:
                raise _Unsure
        finally:
            loader.dispose()
        if self.nodes > MAX_NODES:
            raise _Unsure
        return data

    # Nodes are counted as `_Builder` counts them when there are no aliases: every value once
    # (keys not), added when its mapping or sequence ends; one addition per collection instead of
    # one per value. `_value` checks the count so far before it opens a collection.

    def _value(self, event: Any, depth: int) -> Any:
        """The value of a node at `depth` (its mapping or sequence at `depth - 1`)."""
        kind = type(event)
        if event.anchor is not None or event.tag is not None:
            raise _Unsure
        if kind is _ScalarEvent:
            return _plain_value(event.value) if event.implicit[0] else event.value
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise _Unsure
        if kind is _MappingStart:
            return self._mapping(depth)
        if kind is _SequenceStart:
            return self._sequence(depth)
        raise _Unsure  # an alias

    def _sequence(self, depth: int) -> list[Any]:
        items: list[Any] = []
        append = items.append
        get_event = self.loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            if kind is _ScalarEvent and event.anchor is None and event.tag is None:
                # `_value`'s first case, inline: most items are plain scalars.
                append(_plain_value(event.value) if event.implicit[0] else event.value)
            elif kind is _SequenceEnd:
                self.nodes += len(items)
                return items
            else:
                append(self._value(event, depth + 1))

    def _mapping(self, depth: int) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        get_event = self.loader.get_event
        while True:
            event = get_event()
            kind = type(event)
            if kind is _MappingEnd:
                self.nodes += len(mapping)
                return mapping
            if kind is not _ScalarEvent or event.anchor is not None or event.tag is not None:
                raise _Unsure
            key = event.value
            if event.implicit[0] and key not in _TEXT_KEYS:
                if key == "<<" or type(_plain_value(key)) is not str:
                    raise _Unsure  # a merge key, or a key that is not a string
                if len(_TEXT_KEYS) < _TEXT_KEYS_KEPT:
                    _TEXT_KEYS.add(key)
            if key in mapping:
                raise _Unsure  # a duplicate: _Builder names both lines
            event = get_event()
            if type(event) is _ScalarEvent and event.anchor is None and event.tag is None:
                # `_value`'s first case, inline: most values are plain scalars.
                mapping[key] = _plain_value(event.value) if event.implicit[0] else event.value
            else:
                mapping[key] = self._value(event, depth + 1)


# Plain keys known to be text (not `<<`, not a number, boolean or null), so that a key is judged
# once per process, by a set look-up after that: bundles repeat the same few hundred keys. Keyed
# on the key's text, which alone decides it (`_plain_value`). At most _TEXT_KEYS_KEPT are kept,
# like `_plain_value`'s cache; others are judged each time.
_TEXT_KEYS: set[str] = set()
_TEXT_KEYS_KEPT = 8192


@lru_cache(maxsize=8192)
def _plain_value(value: str) -> Any:
    """The value of a plain (unquoted, untagged) scalar, as `_Builder._scalar` makes it."""
    try:
        number = _core_number(value)
    except ValueError:
        raise _Unsure from None
    if number is not None:
        return number
    tag = _plain_tag(value)
    if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp", *_NUMBER_TAGS):
        return value
    if tag not in _SCALAR_TAGS:
        raise _Unsure
    try:
        return _CONSTRUCT[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    except (ValueError, yaml.YAMLError):
        raise _Unsure from None


# Plain numbers follow YAML 1.2's core schema, as editors (yaml-language-server) read them, not
# libyaml's YAML 1.1: `08` and `010` are 8 and 10 (1.1: text, and octal 8), `1e3` and `2e-1` are
# numbers (1.1: text), and `1:30` and `1_000` are text (1.1: base-60 90, and 1000).
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_HEXADECIMAL = re.compile(r"0x[0-9a-fA-F]+")
_OCTAL = re.compile(r"0o[0-7]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INFINITY = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


@lru_cache(maxsize=8192)
def _core_number(value: str) -> int | float | None:
    """The number a plain scalar is in YAML 1.2's core schema, or None when it is none."""
    if _DECIMAL.fullmatch(value):
        return int(value, 10)
    if _HEXADECIMAL.fullmatch(value):
        return int(value[2:], 16)
    if _OCTAL.fullmatch(value):
        return int(value[2:], 8)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _INFINITY.fullmatch(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.fullmatch(value):
        return float("nan")
    return None


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=8192)
def _plain_tag(value: str) -> str:
    """The core-schema tag of a plain (unquoted) scalar; bundles repeat the same few values."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    return tag


def _path_text(path: Path) -> str:
    from .diagnostics import format_path

    return format_path(path)


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def load_text(text: str, file: str) -> Document:
    """Load one bundle document from text. Raises LoadError with a positioned diagnostic."""
    if len(text) > MAX_FILE_BYTES:
        raise LoadError(
            Diagnostic(
                file,
                1,
                1,
                "(document)",
                f"the file is larger than {MAX_FILE_BYTES // 1000} kB; bundles are small",
                rule="load",
            )
        )
    try:
        return Document(file, _FastBuilder(text).build(), text=text)
    except Exception:  # whatever it is, the positioned builder below judges it and says why
        pass
    try:
        return _Builder(file, text).build()
    except LoadError:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or "invalid YAML"
        context = f" {error.context}" if error.context else ""
        odd_space = _odd_space_before(text, mark)
        if odd_space is not None:
            line, column, char = odd_space
            message = (
                f"YAML syntax error: this line holds {_character_name(char)}, which YAML does not read as a space; "
                "retype it as a plain space"
            )
            raise LoadError(Diagnostic(file, line, column, "(document)", message, rule="load")) from None
        odd_colon = _odd_colon_before(text, mark) if _GLUE_PROBLEMS.search(problem) else None
        if odd_colon is not None:
            line, column, char = odd_colon
            message = (
                f"YAML syntax error: this key ends with {_character_name(char)}, which YAML does not read as "
                "the colon after a key (an input method or a pasted text put it there); retype it as ':'"
            )
            raise LoadError(Diagnostic(file, line, column, "(document)", message, rule="load")) from None
        glued = _key_glued_to_value_before(text, mark) if _GLUE_PROBLEMS.search(problem) else None
        if glued is not None:
            line, column, written = glued
            message = f"YAML syntax error: a key needs a space after its colon: write `{written}`"
            raise LoadError(Diagnostic(file, line, column, "(document)", message, rule="load")) from None
        unclosed = _unclosed_quote_before(text, mark)
        if unclosed is not None and mark is not None:
            line, column = unclosed
            message = (
                f"YAML syntax error: the quoted value that starts here is not closed on its line, so it runs on "
                f"to line {mark.line + 1}; close the quote"
            )
            raise LoadError(Diagnostic(file, line, column, "(document)", message, rule="load")) from None
        opened = error.context_mark
        flow = _flow_hint(problem, opened)
        hint = _syntax_hint(problem, context, text, mark) or flow
        if flow and mark is not None and opened is not None and mark.line > opened.line:
            # A bracket left open at the end of its line: point at it, not at where YAML gave up.
            closing = "]" if "']'" in problem else "}"
            message = (
                f"YAML syntax error: this {'[' if closing == ']' else '{'} is not closed (YAML found no ',' or "
                f"'{closing}' up to line {mark.line + 1} column {mark.column + 1}); close it with {closing}, "
                "or quote a value inside it that holds ': ' or ','"
            )
            raise _fail(file, opened, message) from None
        raise _fail(file, mark, f"YAML syntax error: {problem}{context}{hint}") from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"the file contains the character #x{error.character:04x}, which YAML does not allow; remove it"
        raise LoadError(Diagnostic(file, line, column, "(document)", message, rule="load")) from None
    except yaml.YAMLError as error:
        raise _fail(file, None, f"YAML error: {error}") from None
    except UnicodeError:
        raise _fail(file, None, "the text is not valid Unicode (lone surrogates); save the file as UTF-8") from None
    except RecursionError:
        raise _fail(file, None, f"nesting deeper than {MAX_DEPTH} levels; bundles are never that deep") from None


# Characters that look like a space but are not one to YAML (a non-breaking space pasted from a
# web page or a chat): in the indentation, or after a key's colon or a list's dash, they turn
# structure into text and break it lines later.
_ODD_SPACE = "[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000\ufeff]"
_ODD_SPACE_IN_STRUCTURE = re.compile(f"^[ \t]*(?:- )*{_ODD_SPACE}|(?:^|[ \t])-{_ODD_SPACE}|[^ \t]:{_ODD_SPACE}")


def _is_template(text: str, mark: Any) -> bool:
    """Whether a mapping key starts at the second brace of `{{` (a Jinja or Helm template)."""
    lines = text.splitlines()
    return mark.line < len(lines) and lines[mark.line][max(mark.column - 1, 0) : mark.column + 1] == "{{"


def _odd_space_before(text: str, mark: Any) -> tuple[int, int, str] | None:
    """(line, column, character) of the first space look-alike where structure goes, up to the
    error's line, if any."""
    if mark is None:
        return None
    for number, line in enumerate(text.splitlines()[: mark.line + 1], start=1):
        found = _ODD_SPACE_IN_STRUCTURE.search(line)
        if found:
            return number, found.end(), line[found.end() - 1]
    return None


# `tier:dev`: to YAML one word, which turns the next line's `key: value` into an error.
_GLUE_PROBLEMS = re.compile("mapping values are not allowed|could not find expected ':'")
_GLUED_KEY = re.compile(r"^(\s*(?:- )?)([A-Za-z_][A-Za-z0-9_.-]*):([^\s/:][^#]*?)\s*(?:#.*)?$")


# A key followed by a colon look-alike (fullwidth, small, ratio, modifier-letter or Armenian
# colon): to YAML one word, so the next line's `key: value` is the error.
_ODD_COLON_KEY = re.compile(r"^\s*(?:- )?[A-Za-z_][A-Za-z0-9_.-]*([\uff1a\ufe55\ufe13\u2236\ua789\u0589])")


def _odd_colon_before(text: str, mark: Any) -> tuple[int, int, str] | None:
    """(line, column, character) of a colon look-alike after a key, on the error's line or the
    line before it."""
    if mark is None:
        return None
    lines = text.splitlines()
    for index in (mark.line - 1, mark.line):
        if 0 <= index < len(lines):
            found = _ODD_COLON_KEY.match(lines[index])
            if found:
                return index + 1, found.start(1) + 1, found.group(1)
    return None


def _key_glued_to_value_before(text: str, mark: Any) -> tuple[int, int, str] | None:
    """(line, column, `key: value`) of a key written without a space after its colon on the
    line of the error or the line before it, which is what YAML's "mapping values are not
    allowed" and "could not find expected ':'" most often mean."""
    if mark is None:
        return None
    lines = text.splitlines()
    for index in (mark.line - 1, mark.line):
        if 0 <= index < len(lines):
            found = _GLUED_KEY.match(lines[index])
            if found:
                key, value = found.group(2), found.group(3)
                return index + 1, found.end(2) + 1, f"{key}: {value}"
    return None


# A value that opens a quote and does not close it on its line: `costCenter: "cc-42`.
_OPENED_QUOTE = re.compile(r"""^\s*(?:- )?(?:[^\s"'#][^:#]*:\s+)?(["'])(.*)$""")


def _unclosed_quote_before(text: str, mark: Any) -> tuple[int, int] | None:
    """(line, column) of the opening quote of a value left unclosed on a line before the error's,
    which YAML reads on, across lines, to the next quote: the error surfaces lines later. Bundles
    hold no multi-line quoted values."""
    if mark is None:
        return None
    for index, line in enumerate(text.splitlines()[: mark.line]):
        found = _OPENED_QUOTE.match(line)
        if found is None:
            continue
        quote, rest = found.group(1), found.group(2)
        closed = re.search(r'(?<!\\)"', rest) if quote == '"' else re.search(r"'(?!')", rest.replace("''", ""))
        if closed is None:
            return index + 1, found.start(1) + 1
    return None


def _too_many_digits(value: str) -> str:
    """A number with more digits than any field holds (Python refuses to convert it)."""
    digits = sum(c.isdigit() for c in value)
    shown = value if len(value) <= 24 else f"{value[:10]}…{value[-10:]}"
    return (
        f"the number {shown} has {digits} digits, far more than any field holds: write the number the "
        "field needs (docs/bundle-reference.md gives each field's range), or quote it if it is text"
    )


def _flow_hint(problem: str, opened: Any) -> str:
    """For a `[...]` or `{...}` YAML could not finish: where it opened, and the usual causes."""
    found = re.search(r"expected ',' or '([\]}])'", problem)
    if found is None or opened is None:
        return ""
    bracket = "[" if found.group(1) == "]" else "{"
    return (
        f"; close the {bracket} opened on line {opened.line + 1} column {opened.column + 1} with {found.group(1)}, "
        "or quote a value inside it that holds ': ' or ','"
    )


def _character_name(char: str) -> str:
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'unnamed').lower()})"


def _syntax_hint(problem: str, context: str, text: str, mark: Any) -> str:
    """What a newcomer most likely did, for the syntax errors YAML words for its parser."""
    if "tab" in problem or _tab_at(text, mark):
        return "; indent with spaces, not tabs"
    lines = text.splitlines()
    char = lines[mark.line][mark.column : mark.column + 1] if mark is not None and mark.line < len(lines) else ""
    if "cannot start any token" in problem and char in ("@", "`"):
        return f'; a value that starts with {char} must be quoted, as in "@acme/ml-leads" or "@daily"'
    if "alias" in f"{problem} {context}":
        return '; a value that starts with * is read as an alias: quote it, as in schedule: "*/5 * * * *"'
    if "mapping values are not allowed" in problem:
        return (
            "; quote a value that holds ': ', write a space after each key's colon (tier: dev), "
            "and line up the keys of one mapping"
        )
    return ""


def _tab_at(text: str, mark: Any) -> bool:
    """Whether the line of a syntax error has a tab before or at the error's column."""
    if mark is None:
        return False
    lines = text.splitlines()
    return 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]


def load_file(path: str | FsPath, display: str | None = None) -> Document:
    """Load a bundle file. I/O problems raise OSError; content problems raise LoadError."""
    name = display or str(path)
    fs_path = FsPath(path)
    size = fs_path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LoadError(
            Diagnostic(
                name,
                1,
                1,
                "(document)",
                f"the file is {size // 1000} kB, over the {MAX_FILE_BYTES // 1000} kB limit; bundles are small",
                rule="load",
            )
        )
    raw = fs_path.read_bytes()
    return load_bytes(raw, name)


def load_bytes(raw: bytes, file: str) -> Document:
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(
            Diagnostic(
                file,
                1,
                1,
                "(document)",
                f"the file is larger than {MAX_FILE_BYTES // 1000} kB; bundles are small",
                rule="load",
            )
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise LoadError(
            Diagnostic(file, line, column, "(document)", "the file is not valid UTF-8; save it as UTF-8", rule="load")
        ) from None
    if "\x00" in text:
        raise LoadError(Diagnostic(file, 1, 1, "(document)", "the file contains NUL bytes; is it binary?", rule="load"))
    return load_text(text, file)
