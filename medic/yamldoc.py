"""YAML documents validated by pydantic, with errors that point at ``file:line``.

Configuration errors are found by ``medic check`` and at start-up, never half-way through
an incident; a message a person can act on names the file, the line and the field.
"""

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "did_you_mean",
    "field_path",
    "load_checked",
    "load_yaml_model",
    "locate",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigProblem:
    source: str
    line: int
    field: str
    message: str
    # said, but no reason to refuse the file (``medic check`` exits 0 for warnings alone: it runs as
    # the chart's init container, and a file the worker runs must not stop a rollout)
    warning: bool = False

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        said = "warning: " if self.warning else ""
        return f"{self.source}:{self.line}:{where} {said}{self.message}"


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


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'manager'?)`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(word, sorted(set(known)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse(text: str, *, source: str) -> tuple[Any, yaml.Node | None]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([ConfigProblem(source, line, "", f"not valid YAML: {err}")]) from err
    return ({} if data is None else data), root


def load_yaml_model(text: str, model: type[M], *, source: str) -> tuple[M, yaml.Node | None]:
    """Parse and validate; raise :class:`ConfigError` listing every problem with its line."""
    data, root = _parse(text, source=source)
    return _validate(data, model, root=root, source=source), root


def _validate(
    data: Any, model: type[M], *, root: yaml.Node | None, source: str, context: dict[str, Any] | None = None
) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False, include_input=False):
            raw = tuple(e["loc"])
            loc, message = _walk(model, raw)[0], e["msg"]
            if e["type"] == "extra_forbidden":
                message += _key_hint(model, raw)
            elif e["type"] in ("union_tag_not_found", "union_tag_invalid"):
                loc, message = _tag_problem(model, raw, data, e.get("ctx", {}).get("tag"), default=message)
            problems.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))
        raise ConfigError(problems) from err


def _key_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`` (did you mean 'step_seconds'?)`` for a misspelt key at ``loc``: the keys the model at its
    place knows (the README promised it; a key one letter off said only "Extra inputs are not
    permitted")."""
    if not loc or not isinstance(loc[-1], str):
        return ""
    found = _model_of(_walk(model, loc[:-1])[1])
    if found is None:
        return ""
    return did_you_mean(loc[-1], [f.alias or name for name, f in found.model_fields.items()])


def _tagged(annotation: Any) -> tuple[str, dict[str, type[BaseModel]]] | None:
    """A discriminated union's key and its members by tag (``action``, ``{"scale": ScaleStep, ...}``)."""
    if get_origin(annotation) is not Annotated:
        return None
    union, *meta = get_args(annotation)
    key = next((m.discriminator for m in meta if isinstance(getattr(m, "discriminator", None), str)), None)
    if key is None:
        return None
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(union):
        if isinstance(member, type) and issubclass(member, BaseModel) and key in member.model_fields:
            members |= {str(tag): member for tag in get_args(member.model_fields[key].annotation)}
    return key, members


def _walk(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], Any]:
    """``loc`` as the file has it, and the annotation at its end (None where it cannot be followed):
    pydantic puts a discriminated union's tag into the location (``steps[0].scale.replicas`` for
    ``replicas`` of the first step: its line and its "did you mean" were lost)."""
    annotation: Any = model
    out: list[int | str] = []
    for part in loc:
        tagged = _tagged(annotation) if annotation is not None else None
        if tagged is not None and isinstance(part, str) and part in tagged[1]:
            annotation = tagged[1][part]
            continue
        out.append(part)
        annotation = _step(annotation, part) if annotation is not None else None
    return tuple(out), annotation


def _tag_problem(
    model: type[BaseModel], raw: tuple[int | str, ...], data: Any, tag: object, *, default: str
) -> tuple[tuple[int | str, ...], str]:
    """Where and what, for an entry whose discriminator (a runbook step's ``action``) is missing or
    unknown: a key one letter off (``acton``) said "Unable to extract tag using discriminator", at the
    entry, with no hint."""
    loc, annotation = _walk(model, raw)
    tagged = _tagged(annotation)
    if tagged is None:
        return loc, default
    key, members = tagged
    known = ", ".join(repr(t) for t in members)
    if tag is not None:
        said = f"unknown {key} {str(tag)!r}{did_you_mean(str(tag), members)}; known: {known}"
        return (*loc, key), said
    entry = data
    for part in loc:
        try:
            entry = entry[part]
        except (KeyError, IndexError, TypeError):
            entry = None
            break
    keys = [k for k in entry if isinstance(k, str)] if isinstance(entry, dict) else []
    near = next((k for k in keys if difflib.get_close_matches(k, [key], n=1, cutoff=0.6)), None)
    if near is not None:
        said = (
            f"Extra inputs are not permitted (did you mean {key!r}?); {key} says which kind this is: {known}"
        )
        return (*loc, near), said
    return loc, f"{key} is missing: it says which kind this is, one of {known}"


def _unwrapped(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` and of ``X | None``."""
    if get_origin(annotation) is Annotated:
        return _unwrapped(get_args(annotation)[0])
    args = get_args(annotation)
    rest = [a for a in args if a is not type(None)]
    return _unwrapped(rest[0]) if len(rest) == 1 and len(args) == 2 else annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    found = _unwrapped(annotation)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _step(annotation: Any, part: int | str) -> Any:
    """The annotation one step into ``annotation`` along a validation error's location, or None."""
    model = _model_of(annotation)
    if model is not None:
        if not isinstance(part, str):
            return None
        return next((f.annotation for n, f in model.model_fields.items() if (f.alias or n) == part), None)
    inner = _unwrapped(annotation)
    origin, args = get_origin(inner), get_args(inner)
    if origin in (list, tuple, set) and isinstance(part, int) and args:
        return args[0]
    if origin is dict and len(args) == 2 and isinstance(part, str):
        return args[1]
    return None


def load_checked(
    text: str,
    model: type[M],
    *,
    source: str,
    cross_check: Callable[[M, yaml.Node | None], list[ConfigProblem]],
    context: dict[str, Any] | None = None,
) -> M:
    """Parse, validate and cross-check (references between entries) in one pass.

    When the schema fails, the cross-check still runs over what could be salvaged (every part
    that validates on its own), so a person sees schema and reference errors together instead of
    fixing one round only to meet the next. Reference problems at a place that already has a
    schema problem are left out: one message per mistake. ``context``: pydantic's validation context
    (a model whose own validators the cross-check repeats, field by field, can skip them with it).
    """
    data, root = _parse(text, source=source)
    try:
        document = _validate(data, model, root=root, source=source, context=context)
    except ConfigError as err:
        schema = err.problems
        try:
            extra = cross_check(_salvage(model, data), root)
        except Exception:  # a salvaged document is best effort: the schema errors stand on their own
            extra = []
        fields = [p.field for p in schema]
        extra = [p for p in extra if not any(_within(p.field, f) for f in fields)]
        raise ConfigError(sorted(schema + extra, key=lambda p: p.line)) from err
    problems = cross_check(document, root)
    if problems:
        raise ConfigError(problems)
    return document


def _within(field: str, place: str) -> bool:
    return field == place or field.startswith((f"{place}.", f"{place}["))


def _placeholder(annotation: Any) -> Any:
    origin = get_origin(annotation) or annotation
    if origin in (list, tuple, set):
        return []
    if origin is dict:
        return {}
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return _salvage(origin, {})
    for kind, empty in ((str, ""), (bool, False), (int, 0), (float, 0.0)):
        if origin is kind or kind in get_args(annotation):
            return empty
    return None


def _salvage_value(annotation: Any, raw: Any) -> Any:
    try:
        return TypeAdapter(annotation).validate_python(raw)
    except ValidationError:
        pass
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(raw, list) and args:
        return [_salvage_value(args[0], item) for item in raw]
    if origin is dict and isinstance(raw, dict) and len(args) == 2:
        return {k: _salvage_value(args[1], v) for k, v in raw.items() if isinstance(k, str)}
    model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is not None and isinstance(raw, dict):
        return _salvage(model, raw)
    return _placeholder(annotation)


def _salvage(model: type[M], data: Any) -> M:
    """A best-effort instance: each field that validates on its own, a neutral value otherwise."""
    values: dict[str, Any] = {}
    raw = data if isinstance(data, dict) else {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in raw:
            values[name] = _salvage_value(field.annotation, raw[key])
        elif field.is_required():
            values[name] = _placeholder(field.annotation)
    return model.model_construct(**values)
