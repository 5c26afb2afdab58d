"""YAML documents validated by pydantic, with errors that point at ``file:line``.

Configuration errors are found by ``medic check`` and at start-up, never half-way through
an incident; a message a person can act on names the file, the line and the field.
"""

from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["ConfigError", "ConfigProblem", "field_path", "load_yaml_model", "locate"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigProblem:
    source: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.source}:{self.line}:{where} {self.message}"


class ConfigError(ValueError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("alerts", 0, "labels")`` -> ``alerts[0].labels``: how a person writes a field's place."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the node at ``loc`` (or of its deepest existing ancestor)."""
    node = root
    line = (root.start_mark.line + 1) if root is not None else 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def load_yaml_model(text: str, model: type[M], *, source: str) -> tuple[M, yaml.Node | None]:
    """Parse and validate; raise :class:`ConfigError` listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([ConfigProblem(source, line, "", f"not valid YAML: {err}")]) from err
    if data is None:
        data = {}
    try:
        return model.model_validate(data), root
    except ValidationError as err:
        problems = [
            ConfigProblem(source, locate(root, tuple(e["loc"])), field_path(tuple(e["loc"])), e["msg"])
            for e in err.errors(include_url=False, include_input=False)
        ]
        raise ConfigError(problems) from err
