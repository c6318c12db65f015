"""Whether a file reaches the Docker build context, by the project's .dockerignore.

Enough of Docker's rules to answer for one path: patterns are matched against the path and each
of its parent folders (`*` and `?` stay within one path segment, `**` spans any number), lines
starting with `!` re-include, and the last matching line wins.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path, PurePosixPath


def _regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@lru_cache(maxsize=8)
def _rules(text: str) -> tuple[tuple[bool, re.Pattern], ...]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = PurePosixPath(line[1:].strip() if include else line).as_posix().lstrip("/")
        rules.append((include, _regex(pattern)))
    return tuple(rules)


def is_sent(relative_path: str, context_dir: Path) -> bool:
    """True when `relative_path` (POSIX, inside the context) is not excluded by .dockerignore."""
    ignore = Path(context_dir) / ".dockerignore"
    if not ignore.is_file():
        return True
    path = PurePosixPath(relative_path)
    candidates = [path.as_posix()] + [p.as_posix() for p in path.parents if p.as_posix() != "."]
    sent = True
    for include, regex in _rules(ignore.read_text(encoding="utf-8")):
        if any(regex.match(c) for c in candidates):
            sent = include
    return sent
