"""Go's ``strconv.Quote`` and ``%q`` formatting, used by BuildKit's parse-tree dump."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["go_quote", "go_quote_list"]

_SIMPLE = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    r"""``strconv.Quote``: a double-quoted Go string literal.

    Lone surrogates from ``surrogateescape`` decoding stand for invalid UTF-8 bytes
    and print as ``\\xNN``, like Go does for the raw bytes.
    """
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        simple = _SIMPLE.get(ch)
        if simple is not None:
            out.append(simple)
            continue
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_quote_list(items: Iterable[str]) -> str:
    """``fmt.Sprintf("%q", []string{...})``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"
