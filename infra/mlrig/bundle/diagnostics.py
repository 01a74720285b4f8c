"""Diagnostics: what every phase of the bundle pipeline reports, with file, position and path."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Path = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

# Characters that must never reach a terminal or a CI log raw: C0 and C1 controls and DEL (line
# breaks, escape sequences, GitHub's `::command::` lines), the Unicode line and paragraph
# separators, and the bidirectional overrides that make text read differently than it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def sanitize(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u2028`), so
    that user values echoed in a diagnostic stay one printable line in every output format."""
    return _UNSAFE.sub(_escape_char, text)


def format_path(path: Path) -> str:
    """`("spec", "compute", "pools", 0, "max")` → `spec.compute.pools[0].max`; a key that is not
    plain (empty, or holding `.`, `[`, `]`, quotes or spaces) is quoted: `spec.pipelines["a.b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f"[{sanitize(json.dumps(part, ensure_ascii=False))}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "(document)"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'maxReplicas'?)` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean '{match}'?)" if match is not None else ""


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` is most likely a misspelling of, or None."""
    options = list(candidates)
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    # Among similar candidates prefer the fewest edits, counting a swap of neighbours as one
    # ('us-esat-1' is a typo of 'us-east-1', not of 'us-west-1').
    matches = sorted(close, key=lambda c: _edit_distance(word, c))[:1]
    if not matches and len(word) >= 3:
        # Abbreviations and long forms: 'development' → 'dev', 'prod' → 'production'.
        lowered = word.lower()
        matches = [
            c for c in options if len(c) >= 3 and (lowered.startswith(c.lower()) or c.lower().startswith(lowered))
        ][:1]
    return matches[0] if matches else None


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, transpositions."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    column: int
    path: str
    message: str
    rule: str = field(default="schema", compare=False)

    def __post_init__(self) -> None:
        # Messages and paths echo keys and values of hostile bundles: escape them once, here,
        # so that no output format (text, GitHub annotations, JSON) can carry them raw.
        for name in ("file", "path", "message"):
            object.__setattr__(self, name, sanitize(getattr(self, name)))

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "rule": self.rule,
        }

    def text(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"


class BundleError(Exception):
    """Raised where a caller needs valid bundles and got diagnostics instead."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.text() for d in self.diagnostics))


class UsageError(Exception):
    """A path that does not exist or cannot be read: exit code 2, not 1."""
