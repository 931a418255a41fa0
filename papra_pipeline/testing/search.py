"""Papra's ``searchQuery`` language: a best-effort parser and an in-memory matcher.

Mirrors ``packages/search-parser`` (tokens, NOT/-, AND/juxtaposition, OR, parentheses,
``field:<op>value`` filters) and the server's semantics: token-prefix text matching on
name/content, exact lowercased tag names, date comparisons, ``has:`` and custom-property
filters. Anything unsupported matches nothing, silently, like the real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from papra_pipeline.testing.common import parse_js_date, property_key

if TYPE_CHECKING:
    from papra_pipeline.testing.models import Document, Organization

Predicate = Callable[["Document"], bool]
OPERATORS = (">=", "<=", ">", "<", "=")
MAX_TOKENS = 200
_TAG_ID_RE = re.compile(r"^tag_[a-z0-9]{24}$")
_FTS_TOKEN_RE = re.compile(r"[^\W_]+")
_TRUE_WORDS = {"true", "yes", "y", "1", "on", "enabled"}
_FALSE_WORDS = {"false", "no", "n", "0", "off", "disabled"}


@dataclass
class _Tok:
    kind: str  # "text" | "filter" | "and" | "or" | "not" | "(" | ")"
    value: str = ""
    field: str = ""
    op: str = "="


def _read_quoted(q: str, i: int) -> tuple[str, int]:
    """Read a quoted string starting after the opening quote; unclosed quotes run to the end."""
    out = []
    while i < len(q):
        ch = q[i]
        if ch == "\\" and i + 1 < len(q):
            out.append(q[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def _read_word(q: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(q) and not q[i].isspace() and q[i] not in "()":
        if q[i] == "\\":
            i += 1
        i += 1
    return q[start:i], i


def _find_colon(q: str, i: int) -> int | None:
    """Position of the first unescaped colon of the unquoted word starting at ``i``."""
    while i < len(q) and not q[i].isspace() and q[i] not in "()":
        if q[i] == "\\":
            i += 2
            continue
        if q[i] == ":":
            return i
        i += 1
    return None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _filter_token(field: str, q: str, i: int) -> tuple[_Tok, int]:
    """Read the operator and value of a filter whose colon ends just before ``i``."""
    op = "="
    for candidate in OPERATORS:
        if q.startswith(candidate, i):
            op, i = candidate, i + len(candidate)
            break
    while i < len(q) and q[i].isspace():
        i += 1
    if i < len(q) and q[i] == '"':
        value, i = _read_quoted(q, i + 1)
    else:
        word, i = _read_word(q, i)
        value = _unescape(word)
    return _Tok("filter", value, field, op), i


def tokenize(q: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    while i < len(q) and len(tokens) < MAX_TOKENS:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Tok(ch))
            i += 1
        elif ch == "-" and i + 1 < len(q) and not q[i + 1].isspace():
            tokens.append(_Tok("not"))
            i += 1
        elif ch == '"':
            text, i = _read_quoted(q, i + 1)
            if i < len(q) and q[i] == ":":
                tok, i = _filter_token(text, q, i + 1)
                tokens.append(tok)
            else:
                tokens.append(_Tok("text", text))
        elif (colon := _find_colon(q, i)) is not None:
            tok, i = _filter_token(_unescape(q[i:colon]), q, colon + 1)
            tokens.append(tok)
        else:
            word, i = _read_word(q, i)
            upper = word.upper()
            if upper in ("AND", "OR", "NOT"):
                tokens.append(_Tok(upper.lower()))
            else:
                tokens.append(_Tok("text", _unescape(word)))
    return tokens


class _Parser:
    """Precedence: NOT > AND (explicit or juxtaposition) > OR; best effort on bad input."""

    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Any:
        nodes = []
        while self.peek() is not None:
            node = self.parse_or(0)
            if node is not None:
                nodes.append(node)
            elif self.peek() is not None and self.peek().kind == ")":
                self.pos += 1  # unmatched closing parenthesis: skipped
        return ("and", nodes) if nodes else None

    def parse_or(self, depth: int) -> Any:
        parts = [self.parse_and(depth)]
        while (tok := self.peek()) is not None and tok.kind == "or":
            self.pos += 1
            parts.append(self.parse_and(depth))
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ("or", parts)

    def parse_and(self, depth: int) -> Any:
        parts = []
        while (tok := self.peek()) is not None and tok.kind not in ("or", ")"):
            if tok.kind == "and":
                self.pos += 1
                continue
            node = self.parse_unary(depth)
            if node is not None:
                parts.append(node)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ("and", parts)

    def parse_unary(self, depth: int) -> Any:
        tok = self.peek()
        if tok is None:
            return None
        if tok.kind == "not":
            self.pos += 1
            operand = self.parse_unary(depth + 1)
            return None if operand is None else ("not", operand)
        self.pos += 1
        if tok.kind == "(":
            inner = self.parse_or(depth + 1)
            if (close := self.peek()) is not None and close.kind == ")":
                self.pos += 1
            return inner
        if tok.kind in ("text", "filter"):
            return tok
        return None


def parse(query: str) -> Any:
    """Parse a search query into a small tree; None means "no filter"."""
    return _Parser(tokenize(query)).parse()


def _phrase_regex(value: str) -> re.Pattern[str] | None:
    """FTS5 ``"value"*``: consecutive tokens, the last one matched as a prefix."""
    words = _FTS_TOKEN_RE.findall(value.replace('"', " "))
    if not words:
        return None
    escaped = [re.escape(w) for w in words]
    body = r"(?![^\W_])[\W_]+".join(escaped)
    return re.compile(r"(?<![^\W_])" + body, re.IGNORECASE)


def _compare(op: str, left: float, right: float) -> bool:
    if op == "=":
        return left == right
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    if op == ">=":
        return left >= right
    return left <= right


def _never(_doc: Document) -> bool:
    return False


class Matcher:
    """Compile a parsed query against one organization's tags and custom properties."""

    def __init__(self, org: Organization, state: Any, now_ms: int) -> None:
        self.org = org
        self.state = state
        self.now_ms = now_ms

    def compile(self, node: Any) -> Predicate | None:
        if node is None:
            return None
        return self._compile(node)

    def _compile(self, node: Any) -> Predicate:
        if isinstance(node, _Tok):
            if node.kind == "text":
                return self._text(node.value, ("name", "content"))
            return self._filter(node)
        kind, operand = node
        if kind == "not":
            inner = self._compile(operand)
            return lambda doc: not inner(doc)
        preds = [self._compile(child) for child in operand]
        if kind == "and":
            return lambda doc: all(p(doc) for p in preds)
        return lambda doc: any(p(doc) for p in preds)

    def _text(self, value: str, fields: tuple[str, ...]) -> Predicate:
        regex = _phrase_regex(value)
        if regex is None:
            return _never
        search = regex.search
        if fields == ("name",):
            return lambda doc: search(doc.name) is not None
        if fields == ("content",):
            return lambda doc: search(doc.content) is not None
        return lambda doc: search(doc.name) is not None or search(doc.content) is not None

    def _date(self, op: str, value: str, attr: str) -> Predicate:
        target = parse_js_date(value, now_ms=self.now_ms)
        if target is None:
            return _never

        def match(doc: Document) -> bool:
            ms = getattr(doc, attr)
            return ms is not None and _compare(op, ms, target)

        return match

    def _filter(self, tok: _Tok) -> Predicate:
        field, op, value = tok.field, tok.op, tok.value
        if field in ("name", "content"):
            return self._text(value, (field,)) if op == "=" else _never
        if field == "tag":
            if _TAG_ID_RE.match(value):
                return lambda doc: value in doc.tag_ids
            wanted = value.lower()
            ids = {t.id for t in self.org.tags.values() if t.normalized_name == wanted}
            return lambda doc: any(t in ids for t in doc.tag_ids)
        if field == "created":
            return self._date(op, value, "created_at")
        if field == "date":
            return self._date(op, value, "document_date")
        if field == "has":
            if op != "=":
                return _never
            if value == "tags":
                return lambda doc: bool(doc.tag_ids)
            if value == "date":
                return lambda doc: doc.document_date is not None
            cpd = self.org.definition_by_key(property_key(value))
            if cpd is None:
                return _never
            return lambda doc: cpd.id in doc.cp_values
        cpd = self.org.definition_by_key(property_key(field))
        if cpd is None:
            return _never
        return self._custom(cpd, op, value)

    def _custom(self, cpd: Any, op: str, value: str) -> Predicate:
        cid, kind = cpd.id, cpd.type
        if kind == "number":
            try:
                target = float(value)
            except ValueError:
                return _never
            return lambda doc: cid in doc.cp_values and _compare(op, doc.cp_values[cid], target)
        if kind == "date":
            when = parse_js_date(value, now_ms=self.now_ms)
            if when is None:
                return _never
            return lambda doc: cid in doc.cp_values and _compare(op, doc.cp_values[cid], when)
        if op != "=":
            return _never
        if kind == "boolean":
            lowered = value.lower()
            if lowered not in _TRUE_WORDS | _FALSE_WORDS:
                return _never
            flag = lowered in _TRUE_WORDS
            return lambda doc: doc.cp_values.get(cid) is flag
        if kind == "text":
            return lambda doc: doc.cp_values.get(cid) == value
        if kind in ("select", "multi_select"):
            key = property_key(value)
            option_ids = {o.id for o in cpd.options if o.key == key}

            def has_option(doc: Document) -> bool:
                stored = doc.cp_values.get(cid)
                if stored is None:
                    return False
                values = stored if isinstance(stored, list) else [stored]
                return any(v in option_ids for v in values)

            return has_option
        if kind == "user_relation":
            users = {u.id for u in self.state.users.values() if value in (u.id, u.email, u.name)}
            return lambda doc: any(u in users for u in doc.cp_values.get(cid, ()))
        return lambda doc: value in doc.cp_values.get(cid, ())


def compile_query(query: str, org: Organization, state: Any, now_ms: int) -> Predicate | None:
    """Return a document predicate, or None when the query places no constraint."""
    return Matcher(org, state, now_ms).compile(parse(query))
