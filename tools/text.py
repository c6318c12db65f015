"""Text from the data, made safe to print: an object key may hold any character, and a raw escape
sequence in a table can clear or rewrite the reader's terminal."""

from __future__ import annotations


def printable(text: object) -> str:
    """`text` with every character a terminal would act on (controls, separators other than the
    space) escaped as repr() writes it (`\\x1b`, `\\n`, `\\u2028`); everything else, accents and
    other scripts included, as it is."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 embedding`, `2 embeddings`: the count and the noun in the number it takes."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"
