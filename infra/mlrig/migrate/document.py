"""Bundle files as text plus a ruamel.yaml round-trip view of them, and the edits migrations make.

Edits are splices into the original text at the positions ruamel records (`lc`), so every byte a
migration does not change — comments, blank lines, flow maps, quoting, key order — stays as the
team wrote it. New blocks are rendered by ruamel with the file's own indentation.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.util import load_yaml_guess_indent

SUFFIXES = (".yaml", ".yml")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


@dataclass
class Document:
    """One bundle file. `path` is where it is now; `new_path` where a migration moves it."""

    path: Path
    original: str
    text: str = ""
    new_path: Path | None = None
    changes: list[str] = field(default_factory=list)
    # The file's line ending: the text is edited with "\n" and written back with this, so a
    # Windows file stays a Windows file (a migration that only renames it changes no byte).
    newline: str = "\n"

    def __post_init__(self) -> None:
        self.text = self.text or self.original
        self.data: Any = _yaml().load(self.text)

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    @property
    def name(self) -> str | None:
        metadata = self.data.get("metadata") if isinstance(self.data, dict) else None
        return metadata.get("name") if isinstance(metadata, dict) else None

    @property
    def spec(self) -> CommentedMap:
        spec = self.data.get("spec") if isinstance(self.data, dict) else None
        return spec if isinstance(spec, CommentedMap) else CommentedMap()

    @property
    def changed(self) -> bool:
        return self.text != self.original or self.new_path is not None

    def reload(self, text: str) -> None:
        self.text = text
        self.data = _yaml().load(text)

    # --- edits -----------------------------------------------------------------------------------

    def indent(self) -> int:
        _, indent, _ = load_yaml_guess_indent(self.text)
        lines = [line for line in self.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        nested = [len(line) - len(line.lstrip()) for line in lines if line.startswith(" ")]
        return min(nested) if nested else (indent or 2)

    def insert_into_spec(self, key: str, value: CommentedMap, before: Sequence[str], comment: str) -> None:
        """Add `spec.<key>` before the first key of `before` that spec has (else at its end),
        above that key's own leading comments, as a block at the file's indentation."""
        spec = self.spec
        width = self.indent()
        lines = self.text.splitlines(keepends=True)
        following = next((k for k in before if k in spec), None)
        if following is not None:
            at = spec.lc.key(following)[0]
            while at > 0 and lines[at - 1].strip().startswith("#"):
                at -= 1
        else:
            at = _end_of_mapping(lines, spec.lc.line, width)
        block = render_block(key, value, width, indent=width, comment=comment)
        self.reload("".join([*lines[:at], block, *lines[at:]]))

    def replace_value(self, mapping: CommentedMap, key: str, new: str) -> None:
        """Replace the scalar at `mapping[key]` (on one line) by `new`, keeping its quoting."""
        line, column = mapping.lc.value(key)
        lines = self.text.splitlines(keepends=True)
        text = lines[line]
        old = str(mapping[key])
        quote = text[column] if text[column] in "'\"" else ""
        start, end = column + len(quote), column + len(quote) + len(old)
        if text[start:end] != old:
            raise ValueError(f"{self.path}:{line + 1}: cannot locate the value of {key}")
        lines[line] = text[:start] + new + text[end:]
        self.reload("".join(lines))

    def comment_out(self, mapping: CommentedMap, key: str, comment: str) -> bool:
        """Turn `key: <scalar>`, alone on its line in a block mapping, into a comment, with
        `comment` above it. False (nothing changed) when the key is not written that way (a flow
        mapping, a value over several lines): a migration then asks for the edit by hand."""
        if mapping.fa.flow_style() or isinstance(mapping[key], dict | list):
            return False
        line = mapping.lc.key(key)[0]
        lines = self.text.splitlines(keepends=True)
        text = lines[line]
        body = text.lstrip()
        if not body.startswith(f"{key}:") or (line + 1 < len(lines) and _continues(lines[line + 1], text)):
            return False
        pad = text[: len(text) - len(body)]
        lines[line : line + 1] = [f"{pad}# {comment}\n", f"{pad}# {body}"]
        self.reload("".join(lines))
        return True

    def add_comment_above(self, mapping: CommentedMap, key: str, comment: str) -> None:
        line = mapping.lc.key(key)[0]
        lines = self.text.splitlines(keepends=True)
        indent = len(lines[line]) - len(lines[line].lstrip())
        lines.insert(line, f"{' ' * indent}# {comment}\n")
        self.reload("".join(lines))


def _continues(following: str, line: str) -> bool:
    """Whether `following` goes on with the value of the key on `line` (a folded scalar's next
    line, indented deeper than the key)."""
    depth = len(line) - len(line.lstrip())
    return bool(following.strip()) and len(following) - len(following.lstrip()) > depth


def _end_of_mapping(lines: list[str], start: int, width: int) -> int:
    """The line after the last one indented deeper than the mapping's own key at `start`."""
    at = start + 1
    while at < len(lines) and (not lines[at].strip() or lines[at].startswith(" " * width)):
        at += 1
    while at > start + 1 and not lines[at - 1].strip():
        at -= 1
    return at


def render_block(key: str, value: CommentedMap, width: int, *, indent: int, comment: str) -> str:
    """`key:` and `value` as block YAML indented by `indent`, each level by `width`, with a
    comment line above."""
    yaml = _yaml()
    yaml.indent(mapping=width, sequence=width + 2, offset=width)
    out = io.StringIO()
    yaml.dump(CommentedMap({key: value}), out)
    pad = " " * indent
    body = "".join(pad + line if line.strip() else line for line in out.getvalue().splitlines(keepends=True))
    return "".join(f"{pad}# {line}\n" for line in comment.splitlines()) + body


def load_documents(paths: Sequence[str | Path]) -> list[Document]:
    """Every bundle file (`kind` Platform or Project) under `paths`, sorted by path."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.suffix in SUFFIXES and p.is_file()]
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(2, "no such file or directory", str(path))
    documents = []
    for file in sorted(set(files)):
        raw = file.read_bytes().decode("utf-8")
        newline = "\r\n" if "\r\n" in raw else "\n"
        document = Document(file, raw.replace("\r\n", "\n"), newline=newline)
        if document.kind in ("Platform", "Project"):
            documents.append(document)
    return documents
