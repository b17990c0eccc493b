"""Write-back errors the CLI prints as one line (importing this module costs nothing)."""

from __future__ import annotations


class ActionFileError(Exception):
    """The file was rejected whole: one line per bad action (the CLI prints the first lines)."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"line {n}: {why}" for n, why in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(f"{source}: {len(problems)} bad line(s), nothing queued: {shown}{more}")
