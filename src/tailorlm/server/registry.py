"""Tailored models: names a client can ask for, each standing for a base model + an optional
adapter + an optional prompt program, built from the run store on every listing (a run that
finishes while the server is up is servable at once).

Names:
* the base model: the server's `--model` spec as given (default `smollm2-135m`);
* a finished fine-tuning run: `ft:<base>:<run id>` (base + its adapter + the prompt program
  it was trained with);
* a finished prompt optimization: `prompt:<base>:<run id>` (base + the winning program).
A run id, or a unique prefix of one, works as a name too.

With an `engine` (`tailor serve --engine openai@URL`), the fine-tuned weights run there: every
`ft:` model (and a `prompt:` model optimized on one) is sent to the engine's model named after
its run (`engine_model_name`, as `tailor export --for vllm` names it), while the program and
parser stay here, applied by the chat route as for a local model. The names clients use do
not change.

Models are loaded on first use and kept (at most `capacity` local ones, least recently used
first out), each behind its own batching scheduler; a model behind an API (an engine, an
`openai:` base) behind a `Relay`, since its server batches."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tailorlm.backends.base import Backend
from tailorlm.backends.spec import ModelSpec
from tailorlm.errors import ConfigError, StoreError, TailorError
from tailorlm.prompting.program import PromptProgram
from tailorlm.server.errors import APIError
from tailorlm.server.scheduler import BatchScheduler, Relay, Scheduler
from tailorlm.store import RunRecord, RunStore

BackendFactory = Callable[[str, "str | None"], Backend]
FT_PREFIX, PROMPT_PREFIX = "ft", "prompt"
_ADAPTER_MARK = "+adapter:"
ENGINE_RUN = "{run}"  # where a run's engine model name goes in an `--engine` spec


@dataclass(frozen=True)
class ModelEntry:
    id: str
    base: str  # a model spec load_backend understands
    adapter: str | None = None  # a PEFT adapter folder
    program: PromptProgram | None = None
    task: str | None = None  # the task the program was made for (its schema, input fields)
    run_id: str | None = None
    created: int = 0
    passthrough: bool = False  # send the client's messages unchanged (API-trained models)
    served_by: str | None = None  # with an engine: the `openai:` spec that runs base + adapter

    @property
    def key(self) -> tuple[str, str | None]:
        """(spec, adapter) of the backend that runs this model."""
        return (self.served_by, None) if self.served_by else (self.base, self.adapter)

    @property
    def upstream(self) -> bool:
        """Whether another server generates (an engine, or a base behind an `openai:` spec)."""
        return ModelSpec.parse(self.key[0]).engine.api


def default_factory(spec: str, adapter: str | None) -> Backend:
    from tailorlm.backends import load_backend

    return load_backend(spec, adapter=adapter)


def short_base(spec: str) -> str:
    """A readable, colon-free stand-in for a base spec inside a model name."""
    text = ModelSpec.parse(spec).short_name()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def _created(record: RunRecord) -> int:
    try:
        return int(datetime.fromisoformat(record.finished_at or record.created_at).timestamp())
    except ValueError:
        return 0


def engine_template(engine: str) -> str:
    """`--engine` as an `openai:` spec with `{run}` where a run's model name goes:
    `openai@URL` means `openai:{run}@URL` (vLLM serves an adapter as a model of its name);
    SGLang, which names an adapter BASE:NAME, takes `openai:BASE:{run}@URL`."""
    text = engine.strip().rstrip("/")
    if text.startswith("openai@"):
        text = f"openai:{ENGINE_RUN}@{text.removeprefix('openai@')}"
    try:
        spec = ModelSpec.parse(text.replace(ENGINE_RUN, "run"))
        ok = ENGINE_RUN in text and "@" in text and spec.engine.api
    except ConfigError:
        ok = False
    if not ok:
        raise ConfigError(
            f"--engine {engine!r} is not openai@BASE_URL (or an openai: spec with {ENGINE_RUN})",
            hint="e.g. --engine openai@http://127.0.0.1:8001/v1 (vLLM), or --engine "
            "'openai:BASE:{run}@http://127.0.0.1:30000/v1' (SGLang); `tailor export RUN --for "
            "vllm` writes both in serve.txt",
        )
    return text


def entry_for_run(
    record: RunRecord, store: RunStore, engine: str | None = None
) -> ModelEntry | None:
    """The tailored model a finished run stands for, or None if it is not servable. With
    `engine` (an `engine_template`), its fine-tuned weights are the engine's."""
    try:
        if record.kind == "finetune":
            return _finetune_entry(record, store, engine)
        if record.kind == "optimize":
            return _optimize_entry(record, store, engine)
    except (TailorError, OSError, KeyError, ValueError):
        return None  # a damaged run is left out of the list, not fatal to it
    return None


def _finetune_entry(record: RunRecord, store: RunStore, engine: str | None) -> ModelEntry:
    from tailorlm.training import PROGRAM_FILE, adapter_path_for_run, engine_model_name

    base, adapter = adapter_path_for_run(record.id, store)
    program = PromptProgram.from_dict(record.read_json(PROGRAM_FILE))
    shown = record.model or base
    return ModelEntry(
        id=f"{FT_PREFIX}:{short_base(shown)}:{record.id}",
        base=base,
        adapter=adapter,
        program=program,
        task=record.load_config().get("task"),
        run_id=record.id,
        created=_created(record),
        passthrough=bool(program.meta.get("passthrough")),
        served_by=engine.replace(ENGINE_RUN, engine_model_name(record.id)) if engine else None,
    )


def _optimize_entry(record: RunRecord, store: RunStore, engine: str | None) -> ModelEntry:
    from tailorlm.optimize import PROGRAM_FILE

    model = record.model or ""
    base, adapter, served_by = model, None, None
    if _ADAPTER_MARK in model:  # optimized on a fine-tuned model: serve that adapter too
        tuned = _finetune_entry(store.get(model.split(_ADAPTER_MARK, 1)[1]), store, engine)
        base, adapter, served_by = tuned.base, tuned.adapter, tuned.served_by
    return ModelEntry(
        id=f"{PROMPT_PREFIX}:{short_base(model.split(_ADAPTER_MARK)[0])}:{record.id}",
        base=base,
        adapter=adapter,
        program=PromptProgram.load(record.dir / PROGRAM_FILE),
        task=record.load_config().get("task"),
        run_id=record.id,
        created=_created(record),
        served_by=served_by,
    )


class Registry:
    def __init__(
        self,
        base: str,
        store: RunStore,
        *,
        factory: BackendFactory = default_factory,
        capacity: int = 2,
        scheduler_args: dict[str, Any] | None = None,
        engine: str | None = None,
    ) -> None:
        self.base, self.store, self.factory = base, store, factory
        self.capacity = capacity
        self.scheduler_args = scheduler_args or {}
        self.engine = engine_template(engine) if engine else None
        self._loaded: OrderedDict[tuple[str, str | None], Scheduler] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.started = int(time.time())

    def bases(self) -> list[ModelEntry]:
        return [ModelEntry(id=self.base, base=self.base, created=self.started)]

    def entries(self) -> list[ModelEntry]:
        runs = self.store.list(status="complete")
        tailored = [
            e
            for r in runs
            if r.kind in ("finetune", "optimize")
            if (e := entry_for_run(r, self.store, self.engine)) is not None
        ]
        return [*self.bases(), *tailored]

    def resolve(self, name: str) -> ModelEntry:
        for entry in self.bases():
            if entry.id == name:
                return entry
        run_ref = name.rsplit(":", 1)[-1] if name.startswith(("ft:", "prompt:")) else name
        try:
            record = self.store.get(run_ref)
        except StoreError:
            record = None
        found = (
            entry_for_run(record, self.store, self.engine)
            if record is not None and record.is_complete
            else None
        )
        if found is None or (":" in name and name != found.id):
            raise APIError(
                404,
                f"The model '{name}' does not exist",
                code="model_not_found",
                param="model",
                hint="list models with GET /v1/models",
            )
        return found

    async def scheduler(self, entry: ModelEntry) -> Scheduler:
        """The loaded model behind `entry` (loading it in a worker thread on first use)."""
        with self._lock:
            if entry.key in self._loaded:
                self._loaded.move_to_end(entry.key)
                return self._loaded[entry.key]
        return await asyncio.to_thread(self._load, entry)

    def _load(self, entry: ModelEntry) -> Scheduler:
        with self._load_lock:  # one load at a time: two would double peak memory
            with self._lock:
                if entry.key in self._loaded:
                    return self._loaded[entry.key]
            backend = self.factory(*entry.key)
            scheduler: Scheduler = (
                Relay(backend) if entry.upstream else BatchScheduler(backend, **self.scheduler_args)
            )
            with self._lock:
                self._loaded[entry.key] = scheduler
                self._evict()
            return scheduler

    def _evict(self) -> None:
        """Unload the least recently used local models beyond `capacity` (with the lock held).
        Models behind an API hold no weights here and do not count."""
        local = [k for k, s in self._loaded.items() if isinstance(s, BatchScheduler)]
        for key in local[: max(0, len(local) - self.capacity)]:
            threading.Thread(target=self._loaded.pop(key).close, daemon=True).start()

    def loaded(self) -> list[Scheduler]:
        with self._lock:
            return list(self._loaded.values())

    def close(self) -> None:
        with self._lock:
            schedulers, self._loaded = list(self._loaded.values()), OrderedDict()
        for scheduler in schedulers:
            scheduler.close()
