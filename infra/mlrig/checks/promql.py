"""Just enough PromQL to know which labels an alert expression keeps and which metrics it reads.

An aggregation (`sum by (pipeline) (...)`) keeps only its `by` labels, or drops its `without`
labels, or drops every label; a function keeps the labels of its vector argument
(`histogram_quantile` drops `le`); a binary operation keeps the labels of its vector side (the left
one when both are vectors). Selectors keep every label of the series they select.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "atan2"}
)
BINARY = frozenset({"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2"})
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<selector>\{(?:[^{}"']|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')*\})
      | (?P<range>\[[^\]]*\])
      | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
      | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>==|!=|>=|<=|[-+*/%^<>(),@])
    )""",
    re.VERBOSE,
)
_MATCHER = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")


@dataclass(frozen=True)
class Labels:
    """The labels a (sub)expression's result carries: all (less `removed`) or exactly `kept`."""

    all: bool = True
    kept: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    scalar: bool = False

    def keeps(self, label: str) -> bool:
        return label not in self.removed if self.all else label in self.kept

    def without(self, *labels: str) -> Labels:
        if self.all:
            return Labels(True, removed=self.removed | set(labels))
        return Labels(False, kept=self.kept - set(labels))


SCALAR = Labels(all=False, scalar=True)


@dataclass
class Selector:
    metric: str | None
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, op, value)


class _Parser:
    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip():
                    raise ValueError(f"cannot read PromQL at {text[position : position + 20]!r}")
                break
            kind = match.lastgroup or "op"
            self.tokens.append((kind, match[kind]))
            position = match.end()
        self.index = 0
        self.selectors: list[Selector] = []

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise ValueError("the expression ends too early")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value:
            raise ValueError(f"expected {value!r}, got {token[1]!r}")

    def label_list(self) -> list[str]:
        self.expect("(")
        labels = []
        while (token := self.peek()) is not None and token[1] != ")":
            kind, value = self.take()
            if kind == "ident":
                labels.append(value)
        self.expect(")")
        return labels

    def expression(self) -> Labels:
        left = self.unary()
        while (token := self.peek()) is not None and token[1] in BINARY:
            self.take()
            while (modifier := self.peek()) is not None and modifier[1] in (
                "bool",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ):
                self.take()
                if modifier[1] != "bool" and (after := self.peek()) is not None and after[1] == "(":
                    self.label_list()
            right = self.unary()
            left = right if left.scalar else left
        return left

    def unary(self) -> Labels:
        token = self.peek()
        if token is not None and token[1] in ("-", "+"):
            self.take()
        return self.postfix(self.primary())

    def postfix(self, labels: Labels) -> Labels:
        while (token := self.peek()) is not None:
            if token[0] == "range":
                self.take()
            elif token[1] == "offset" or token[1] == "@":
                self.take()
                self.take()
            else:
                break
        return labels

    def primary(self) -> Labels:
        kind, value = self.take()
        if kind == "number" or kind == "string":
            return SCALAR
        if value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "selector":
            self.selectors.append(_selector(None, value))
            return Labels()
        if kind != "ident":
            raise ValueError(f"unexpected {value!r}")
        following = self.peek()
        if value in AGGREGATIONS:
            return self.aggregation()
        if following is not None and following[1] == "(":
            return self.function(value)
        selector = following[1] if following is not None and following[0] == "selector" else ""
        if selector:
            self.take()
        self.selectors.append(_selector(value, selector))
        return Labels()

    def aggregation(self) -> Labels:
        grouping: tuple[str, list[str]] | None = None
        token = self.peek()
        if token is not None and token[1] in ("by", "without"):
            self.take()
            grouping = (token[1], self.label_list())
        self.expect("(")
        arguments = [self.expression()]
        while (token := self.peek()) is not None and token[1] == ",":
            self.take()
            arguments.append(self.expression())
        self.expect(")")
        token = self.peek()
        if grouping is None and token is not None and token[1] in ("by", "without"):
            self.take()
            grouping = (token[1], self.label_list())
        if grouping is None:
            return Labels(all=False)
        if grouping[0] == "by":
            return Labels(all=False, kept=frozenset(grouping[1]))
        inner = next((a for a in reversed(arguments) if not a.scalar), Labels())
        return inner.without(*grouping[1])

    def function(self, name: str) -> Labels:
        self.expect("(")
        arguments: list[Labels] = []
        while (token := self.peek()) is not None and token[1] != ")":
            if token[1] == ",":
                self.take()
                continue
            arguments.append(self.expression())
        self.expect(")")
        vector = next((a for a in arguments if not a.scalar), None)
        if vector is None:
            return SCALAR if name in ("scalar", "time", "pi") or not arguments else Labels()
        if name == "histogram_quantile":
            return vector.without("le")
        if name in ("absent", "absent_over_time", "vector"):
            return Labels(all=False)
        return vector


def _selector(metric: str | None, braces: str) -> Selector:
    matchers = [(label, op, raw[1:-1]) for label, op, raw in _MATCHER.findall(braces)]
    return Selector(metric, matchers)


@dataclass(frozen=True)
class Analysis:
    labels: Labels
    selectors: tuple[Selector, ...]

    def metric_patterns(self) -> list[tuple[str, str]]:
        """(operator, name) of each selected metric: ('=', 'up') or ('=~', 'argo_.*_total')."""
        found = []
        for selector in self.selectors:
            if selector.metric:
                found.append(("=", selector.metric))
            found += [
                (op, value) for label, op, value in selector.matchers if label == "__name__" and op in ("=", "=~")
            ]
        return found


def analyse(expression: str) -> Analysis:
    parser = _Parser(expression)
    labels = parser.expression()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return Analysis(labels, tuple(parser.selectors))


def metric_matches(pattern: tuple[str, str], name: str) -> bool:
    operator, value = pattern
    if operator == "=":
        return value == name
    try:
        return re.fullmatch(value, name) is not None
    except re.error:
        return False
