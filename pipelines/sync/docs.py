"""The README's generated tables, from the sync plan and the coverage data.

`python -m pipelines.sync.docs` rewrites each block between `<!-- plan:NAME ... -->` and
`<!-- /plan:NAME -->` in README.md (keeping the block's indentation); tests/unit/test_plan.py and
tests/unit/test_coverage.py fail while the README and the plan disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from models import TABLES
from pipelines.sync.coverage import coverage_markdown
from pipelines.sync.streams import DELEGATED_PLAN, PLAN

_HOW = {
    "delta": "delta link", "snapshot": "whole list each run; unseen rows tombstoned",
    "watermark": "`lastModifiedDateTime gt` the last watermark", "single": "one object per scope",
}


def tables_markdown() -> str:
    """The synced tables: one line per stream (a table two streams fill has two)."""
    lines = ["| table | Graph source (app-only) | delegated | stays current by | scopes from | key |",
             "|---|---|---|---|---|---|"]
    for spec in PLAN.streams.values():
        parent = f"`{spec.parent.stream}`" + (" (each distinct one once)" if spec.parent.shared else "") \
            if spec.parent else "tenant"
        key = ", ".join(TABLES[spec.table].key_columns)
        delegated = DELEGATED_PLAN[spec.name].path
        how = _HOW[spec.kind.value]
        if spec.window_days:
            how += f", over {spec.window_days[0]} days before to {spec.window_days[1]} after each run's day"
        if spec.opt_in:
            how += "; opt-in"
        lines.append(f"| `{spec.table}` | `GET {spec.path}` | `GET {delegated}` | {how} | {parent} | `{key}` |")
    return "\n".join(lines)


def permissions_markdown() -> str:
    """The least-privilege table: each table's application and delegated permission."""
    lines = ["| table | application permission | delegated permission |", "|---|---|---|"]
    lines += [f"| `{table}` | `{PLAN[name].app_permission}` | `{PLAN[name].delegated_permission}` |"
              for table, name in PLAN.primary.items()]
    return "\n".join(lines)


BLOCKS = {"plan:tables": tables_markdown, "plan:permissions": permissions_markdown, "plan:coverage": coverage_markdown}


def rewrite(readme: str) -> str:
    """The README with every generated block made anew, each indented like its opening marker."""
    for name, render in BLOCKS.items():
        pattern = re.compile(rf"^( *)(<!-- {re.escape(name)}\b.*?-->\n)(.*?)(^ *<!-- /{re.escape(name)} -->)",
                             re.S | re.M)
        found = pattern.search(readme)
        if found is None:
            raise ValueError(f"README.md has no {name} block")
        indent = found.group(1)
        text = "\n".join(indent + line for line in render().splitlines()) + "\n"
        readme = readme[:found.start(3)] + text + readme[found.end(3):]
    return readme


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[2] / "README.md"
    path.write_text(rewrite(path.read_text()))
