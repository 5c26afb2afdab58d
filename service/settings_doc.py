"""The table of every setting in docs/configuration.md, generated from :class:`service.settings.Settings`.

The settings model is the one source: each field's name, default and ``description``. A test fails when
the table in the docs differs from what this prints, so a new setting cannot go undocumented. Rewrite the
marked section with::

    python -m service.settings_doc docs/configuration.md          # rewrite
    python -m service.settings_doc docs/configuration.md --check  # exit 1 when out of date
"""

import json
import sys
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from service.settings import Settings

__all__ = ["BEGIN", "END", "main", "render_section", "settings_table", "update"]

BEGIN = "<!-- BEGIN GENERATED settings: python -m service.settings_doc docs/configuration.md -->"
END = "<!-- END GENERATED settings -->"
_HEADING = "## Every setting"


def _default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`" if value else ("`[]`" if isinstance(value, list) else "`{}`")
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def settings_table(model: type[BaseModel] = Settings) -> str:
    """One row per setting: the variable, its default, and its field description."""
    prefix = str(model.model_config.get("env_prefix", "")).upper()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        else:
            default = None if field.default is PydanticUndefined else field.default
        rows.append(f"| `{prefix}{name.upper()}` | {_default(default)} | {_cell(field.description or '')} |")
    return "\n".join(rows)


def render_section(model: type[BaseModel] = Settings) -> str:
    return f"{BEGIN}\n{settings_table(model)}\n{END}"


def update(text: str, model: type[BaseModel] = Settings) -> str:
    """``text`` with its generated section rewritten (appended under its heading when missing)."""
    section = render_section(model)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + section + rest.split(END, 1)[1]
    intro = (
        "Generated from the settings model (`service/settings.py`): every setting, its default, its meaning."
    )
    return text.rstrip("\n") + f"\n\n{_HEADING}\n\n{intro}\n\n{section}\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    path, check = Path(args[0]), "--check" in args[1:]
    text = path.read_text(encoding="utf-8")
    updated = update(text)
    if check:
        if updated != text:
            print(f"{path}: the settings table is out of date; run python -m service.settings_doc {path}")
            return 1
        return 0
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
