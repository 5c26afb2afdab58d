"""JSON schemas of Medic's configuration files, generated from the pydantic models so editors
can validate and complete them. ``python -m service.schemas`` rewrites docs/schemas/."""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from medic.catalog import Catalog
from medic.routing import RoutingPolicy
from medic.runbook import Runbook

__all__ = ["SCHEMAS", "render", "write_all"]

SCHEMAS: dict[str, type[BaseModel]] = {
    "catalog.schema.json": Catalog,
    "routing.schema.json": RoutingPolicy,
    "runbook.schema.json": Runbook,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = folder / name
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(path)
