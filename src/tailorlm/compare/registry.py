"""Compared systems as registrations. One module per system under `compare/systems/` declares
its id, label, approach, the systems it builds on, the preset section it reads, how it is built,
and the texts the report and advisor show; the runner, `comparison.json`, the report and the
advisor read them from here (and from the file) instead of keeping tables of their own.

Light on purpose (no model code): the report imports it to render files written before the
texts were stored in them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Approach = Literal["prompt", "finetune", "both"]


@dataclass(frozen=True)
class Texts:
    """What the criteria table says of a system beyond its measurements. `effort` may use
    {calls} (model calls spent on setup) and {tokens} (training tokens)."""

    access: str
    effort: str
    personalization: str
    use_case: str
    keeps: str  # what a repeated request reuses

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


_PROMPT = Texts(
    access="inference only (an API or the weights)",
    effort="write the prompt",
    personalization="instructions, context and examples sent with every input",
    use_case="one-off, interactive or fast-changing work; API-only models",
    keeps="the prompt program",
)
_FINETUNE = Texts(
    access="the weights, to train",
    effort="labelled data + LoRA training ({tokens} training tokens)",
    personalization="the task learned into the weights (LoRA adapter)",
    use_case="repeated, standardized, high-volume work with good labelled data",
    keeps="the adapter and a short prompt",
)
APPROACH_TEXTS: dict[str, Texts] = {
    "prompt": _PROMPT,
    "finetune": _FINETUNE,
    "both": Texts(
        access=_FINETUNE.access,
        effort="labelled data, training, then a prompt search ({calls} model calls)",
        personalization="adapter for the task's structure + prompt for what varies",
        use_case="high-volume standardized work whose details still vary",
        keeps=_FINETUNE.keeps,
    ),
}


@dataclass(frozen=True)
class SystemSpec:
    """One compared system. `build(ctx)` returns its SystemRun or raises NotPossible; the
    runner builds `builds_on` first and refuses this one (with the reason) when one of them did
    not run. `pairs_with`: paired tests the report shows besides "vs the baseline"."""

    id: str
    label: str
    approach: Approach
    description: str
    build: Callable[[Any], Any] = field(compare=False)
    order: int = 100  # place in tables: simplest first
    builds_on: tuple[str, ...] = ()
    pairs_with: tuple[str, ...] = ()
    preset_section: str | None = None  # the Preset field its settings come from
    texts: Texts | None = None  # None: its approach's texts
    brought: bool = False  # given by the task or the command (systems/brought.py): always runs

    @property
    def shown_texts(self) -> Texts:
        return self.texts or APPROACH_TEXTS[self.approach]


# How a system that did not run is described, by its status in comparison.json.
_STATUS_WORDS = {"not_possible": "not possible", "skipped": "skipped", "failed": "failed"}


def status_words(status: str | None) -> str:
    return _STATUS_WORDS.get(status or "failed", status or "failed")


_SYSTEMS: dict[str, SystemSpec] = {}


def register_system(spec: SystemSpec) -> SystemSpec:
    _SYSTEMS[spec.id] = spec
    return spec


def registered() -> tuple[SystemSpec, ...]:
    """Every registered system, in table order."""
    return tuple(sorted(_SYSTEMS.values(), key=lambda s: s.order))


def with_bases(ids: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`ids` (system ids, as a user lists them for `--systems`), every system they build on and
    the baseline (the first system: every paired test is against it), in table order; an
    unknown id is a ConfigError that lists the registered ones."""
    from tailorlm.compare import systems  # noqa: F401 - registers the built-in systems
    from tailorlm.errors import ConfigError

    if not ids:
        raise ConfigError("No systems chosen", hint="name system ids, e.g. zero-shot,finetuned")
    chosen: set[str] = set()
    todo = [*ids, registered()[0].id]
    while todo:
        sid = todo.pop()
        if sid not in _SYSTEMS:
            raise ConfigError(
                f"Unknown system '{sid}'",
                hint=f"choose from: {', '.join(s.id for s in registered())}, or 'all'",
            )
        if sid not in chosen:
            chosen.add(sid)
            todo.extend(_SYSTEMS[sid].builds_on)
    return tuple(s.id for s in registered() if s.id in chosen)


def texts_for(system_id: str, approach: str) -> Texts:
    """The texts of a system in a stored comparison (registered, else its approach's)."""
    from tailorlm.compare import systems  # noqa: F401 - registers the built-in systems

    spec = _SYSTEMS.get(system_id)
    return spec.shown_texts if spec is not None else APPROACH_TEXTS[approach]
