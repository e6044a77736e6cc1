"""Output for read commands: `-o table|json|yaml`, like kubectl."""

from __future__ import annotations

import json
import sys

FORMATS = ("table", "json", "yaml")


def add_output_argument(parser, default: str = "table") -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, default=default, help="output format (default: %(default)s)")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_yaml(data) -> None:
    import yaml

    sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True))


def table(headers: list[str], rows: list[list], *, empty: str = "") -> str:
    if not rows:
        return empty
    cells = [[str(c) if c is not None else "-" for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def emit(data, fmt: str, headers: list[str], rows: list[list], *, empty: str = "") -> None:
    if fmt == "json":
        print_json(data)
    elif fmt == "yaml":
        print_yaml(data)
    else:
        text = table(headers, rows, empty=empty)
        if text:
            print(text)
