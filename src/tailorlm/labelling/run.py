"""The labelling run: generate, check, vote, store (kind `label`)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailorlm.backends import ModelLike, api_model_of, as_backend, engine_of
from tailorlm.backends.base import Backend
from tailorlm.config import run_config
from tailorlm.errors import DataError, ModelError, TailorError
from tailorlm.evaluation import chunk_rows
from tailorlm.experiments import default_max_tokens, load_now
from tailorlm.metrics.checks import AnswerCheck, Checked, answer_check
from tailorlm.prompting.program import PromptProgram
from tailorlm.prompting.scoring import Scored, score_batch
from tailorlm.prompting.strategies import get_strategy
from tailorlm.store import RunStore, RunWriter, canonical_json, config_hash
from tailorlm.store.steps import artifact, open_step
from tailorlm.tasks import Task, load_task
from tailorlm.types import Example, GenerationOptions, Metric, ProgressFn, Score

KIND = "label"
ROWS_FILE = artifact(KIND, "rows")
PROGRAM_FILE = artifact(KIND, "program")
RESULT_FILE = artifact(KIND, "result")
VOTE_TEMPERATURE = 0.7  # sampling temperature of the votes (one answer is greedy)
NO_DEMOS_PROMPT = "role+context+format"  # the best prompt without its demos (no train split)
BATCH_SIZE = 8  # requests in flight at once for an HTTP teacher (its concurrency)


@dataclass(frozen=True)
class LabelOutcome:
    """A finished labelling run: the kept rows as Examples, and what happened to the rest."""

    run_id: str
    teacher: str
    program: str
    program_hash: str
    votes: int
    examples: tuple[Example, ...]  # kept: `output` is the teacher's answer
    total: int
    dropped: Mapping[str, int]  # by reason (the part before ':')
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # at the teacher's list prices; None: not an API model in prices.yaml
    reused: bool = False
    resumed: bool = False
    run_dir: Path | None = None

    @property
    def kept(self) -> int:
        return len(self.examples)

    def summary(self) -> dict[str, Any]:
        return {
            "teacher": self.teacher,
            "program": self.program,
            "votes": self.votes,
            "inputs": self.total,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
        }


# ---------------------------------------------------------------------------- the run


def label_inputs(
    inputs: Sequence[Example],
    *,
    task: str | Path | Task,
    teacher: ModelLike,
    program: PromptProgram | None = None,
    votes: int = 1,
    temperature: float = VOTE_TEMPERATURE,
    options: GenerationOptions | None = None,
    store: RunStore | None = None,
    reuse: bool = True,
    progress: ProgressFn | None = None,
    api_key: str | None = None,
    filtered: bool = True,
) -> LabelOutcome:
    """Have `teacher` answer `inputs` (their gold `output`, if any, is ignored) with `program`
    (default: the task's best hand-built prompt) and keep the answers the task can check on
    its own (`filtered=False`: every non-empty answer). A stored run: reused when identical,
    resumed when interrupted. The run keeps every answer with its check verdict, so the
    filter is a view of it: with and without the check share one run (and one teacher bill)."""
    task = task if isinstance(task, Task) else load_task(task)
    examples = unlabelled(inputs)
    program = program or default_program(task)
    backend = as_backend(teacher, api_key=api_key)
    options = options or label_options(task)
    if votes < 1:
        raise TailorError(f"--votes {votes} must be at least 1")
    config = label_config(task, backend, program, votes, temperature, options)
    store = store or RunStore()
    opened = open_step(
        store,
        KIND,
        config,
        inputs_hash(task, examples, program),
        name=program.name,
        task=task.name,
        model=backend.name,
        reuse=reuse,
        before_start=lambda: load_now(backend),
    )
    facts = _Facts(backend.name, program, votes, api_model_of(backend), _view(task, filtered))
    with opened as step:
        if step.record is not None:
            rows = step.record.read_jsonl(ROWS_FILE)
            return _outcome(rows, step.record.id, facts, reused=True, run_dir=step.record.dir)
        writer = step.out
        job = _Job(task, program, backend, options, votes, temperature)
        rows = _label_into(writer, job, examples, progress)
        checked = replace(facts, view=None)  # the run's own summary: the check's view
        stored = _outcome(rows, writer.id, checked, resumed=step.resumed)
        writer.write_json(PROGRAM_FILE, program.to_dict())
        writer.write_json(RESULT_FILE, stored.summary())
        writer.set_summary(stored.summary())
    if facts.view is not None:
        stored = _outcome(rows, writer.id, facts, resumed=step.resumed)
    return replace(stored, run_dir=writer.dir)  # its final folder, now it is complete


def label_split(
    task: str | Path | Task, *, teacher: ModelLike, split: str = "train", **kwargs: Any
) -> LabelOutcome:
    """`label_inputs` on a task's own split (its gold answers ignored): the rows a student is
    fine-tuned on when it learns from the teacher instead of from the labels."""
    task = task if isinstance(task, Task) else load_task(task)
    return label_inputs(task.split(split), task=task, teacher=teacher, **kwargs)


def default_program(task: Task) -> PromptProgram:
    """The comparison's best hand-built prompt; without its few-shot demos when the task has no
    train split to draw them from."""
    from tailorlm.compare.presets import BEST_PROMPT

    has_train = "train" in task.available_splits()
    return get_strategy(BEST_PROMPT if has_train else NO_DEMOS_PROMPT)(task)


def label_options(task: Task, max_new_tokens: int | None = None) -> GenerationOptions:
    return GenerationOptions(
        max_new_tokens=max_new_tokens or default_max_tokens(task), batch_size=BATCH_SIZE
    )


def unlabelled(inputs: Sequence[Example]) -> list[Example]:
    """The inputs without their gold answers; DataError for an empty list or a repeated id."""
    if not inputs:
        raise DataError("nothing to label: no inputs", hint="pass at least one input row")
    seen: set[str] = set()
    for ex in inputs:
        if ex.id in seen:
            raise DataError(f"input id '{ex.id}' is used twice", field="id")
        seen.add(ex.id)
    return [replace(ex, output="") for ex in inputs]


def label_config(
    task: Task,
    backend: Backend,
    program: PromptProgram,
    votes: int,
    temperature: float,
    options: GenerationOptions,
) -> dict[str, Any]:
    cfg = task.config
    check = {"metric": cfg.metric, "output_type": cfg.output_type, "labels": cfg.labels}
    return run_config(
        KIND,
        task.ref,
        backend.name,
        options.seed,
        engine=engine_of(backend),
        program=program.to_dict(),
        votes=votes,
        temperature=temperature if votes > 1 else 0.0,
        check=check,
        generation=asdict(options),
    )


def inputs_hash(task: Task, examples: Sequence[Example], program: PromptProgram) -> str:
    """The data a labelling depends on: the inputs (not their gold), the task's settings, the
    files the checks read (its databases, data files) and, for a program with few-shot
    demos, the train split they come from. Only then the train split: labelling into a task's
    own folder replaces it, and a program without demos must still find its run again."""
    digest = hashlib.sha256()
    rows = [[ex.id, dict(ex.inputs), dict(ex.meta)] for ex in examples]
    digest.update(canonical_json({"task": task.config.model_dump(), "rows": rows}).encode())
    if program.demo_selector is not None and "train" in task.available_splits():
        digest.update(task.data_hash("train").encode())  # task.yaml, resources and train
        return digest.hexdigest()
    for name, path in sorted(task.resources().items()):
        digest.update(f"\0{name}\0".encode())
        if path.is_file():
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Job:
    task: Task
    program: PromptProgram
    backend: Backend
    options: GenerationOptions
    votes: int
    temperature: float

    def check(self) -> AnswerCheck:
        cfg = self.task.config
        return answer_check(
            cfg.metric, cfg.output_type, resources=self.task.resources(), labels=cfg.labels
        )

    def vote_options(self, vote: int) -> GenerationOptions:
        """Greedy for a single answer; votes sample, each with its own seed (servers that honour
        `seed` would return the same sample for the same one)."""
        if self.votes == 1:
            return self.options
        return replace(self.options, temperature=self.temperature, seed=self.options.seed + vote)


def _label_into(
    writer: RunWriter, job: _Job, examples: list[Example], progress: ProgressFn | None
) -> list[dict[str, Any]]:
    """Label the inputs not yet in the run folder, appending rows chunk by chunk."""
    rows = writer.read_jsonl(ROWS_FILE)
    done = {r["id"] for r in rows}
    todo = [ex for ex in examples if ex.id not in done]
    metric, size = _as_metric(job.check()), chunk_rows(job.options.batch_size)
    if progress:
        progress(len(rows), len(examples))
    for start in range(0, len(todo), size):
        chunk = todo[start : start + size]
        try:
            votes = [_generate(job, chunk, metric, vote) for vote in range(job.votes)]
        except ModelError as exc:
            raise ModelError(
                f"{exc.message} ({len(rows)} of {len(examples)} inputs labelled and kept; "
                "the same command resumes from there)",
                hint=exc.hint,
            ) from exc
        for i, ex in enumerate(chunk):
            row = _row(ex, [scored[i] for scored in votes], job.votes)
            writer.append_jsonl(ROWS_FILE, row)
            rows.append(row)
        if progress:
            progress(len(rows), len(examples))
    return rows


def _generate(job: _Job, chunk: list[Example], metric: Metric, vote: int) -> list[Scored]:
    generate, options = job.backend.generate, job.vote_options(vote)
    return score_batch(
        job.program, chunk, generate, metric, resources=job.task.resources(), options=options
    )


def _as_metric(check: AnswerCheck) -> Metric:
    """The gold-free check in the loop's metric slot; its verdict rides in the details."""

    def metric(prediction: str, example: Example) -> Score:
        checked = check(prediction, example)
        value = 1.0 if checked.usable else 0.0
        return Score(value, checked.reason, {"checked": checked}, well_formed=checked.usable)

    return metric


def _row(ex: Example, answers: list[Scored], votes: int) -> dict[str, Any]:
    checks: list[Checked] = [s.score.details["checked"] for s in answers]
    return {
        "id": ex.id,
        "inputs": dict(ex.inputs),
        "meta": dict(ex.meta),
        **_verdict(checks, votes),
        "candidates": [
            {"prediction": s.prediction, "usable": c.usable, "reason": c.reason}
            for s, c in zip(answers, checks, strict=True)
        ],
        "prompt_tokens": sum(s.completion.prompt_tokens for s in answers),
        "completion_tokens": sum(s.completion.completion_tokens for s in answers),
        "latency_s": sum(s.completion.latency_s for s in answers),
    }


def _verdict(checks: Sequence[Checked], votes: int) -> dict[str, Any]:
    """A row's kept answer (or none) and why, from its answers' checks."""
    winner, agree, reason = majority(checks, votes)
    return {
        "kept": winner is not None,
        "answer": winner.answer if winner else None,
        "answer_meta": dict(winner.meta) if winner else {},
        "reason": reason,
        "agree": agree,
        "vote_share": agree / votes,
    }


def majority(checks: Sequence[Checked], votes: int) -> tuple[Checked | None, int, str]:
    """(the kept answer or None, how many answers agree with it, the kept or dropped reason).
    One vote: the answer if usable. Several: the usable answer most agree on (ties: the
    earliest), kept only if more than half of all votes agree."""
    usable = [c for c in checks if c.usable]
    if not usable:
        reasons = Counter(c.reason for c in checks)
        return None, 0, reasons.most_common(1)[0][0]
    key, agree = Counter(c.key for c in usable).most_common(1)[0]
    if votes > 1 and 2 * agree <= votes:
        return None, agree, f"no majority: {agree} of {votes} answers agree"
    winner = next(c for c in usable if c.key == key)
    if votes == 1:
        return winner, agree, winner.reason
    return winner, agree, f"majority {agree}/{votes}: {winner.reason}"


# ---------------------------------------------------------------------------- the outcome


@dataclass(frozen=True)
class _Facts:
    teacher: str
    program: PromptProgram
    votes: int
    price_name: str | None
    view: AnswerCheck | None = None  # None: the stored check; else re-vote the answers with it


def _outcome(
    rows: list[dict[str, Any]],
    run_id: str,
    facts: _Facts,
    *,
    reused: bool = False,
    resumed: bool = False,
    run_dir: Path | None = None,
) -> LabelOutcome:
    program_hash = config_hash(facts.program.to_dict())[:12]
    stamp = {
        "run": run_id,
        "teacher": facts.teacher,
        "program": facts.program.name,
        "program_hash": program_hash,
        "votes": facts.votes,
    }
    if facts.view is not None:
        rows = [_revote(r, facts.view, facts.votes) for r in rows]
    kept = tuple(_labelled(r, stamp) for r in rows if r["kept"])
    dropped = Counter(reason_kind(r["reason"]) for r in rows if not r["kept"])
    prompt = sum(int(r["prompt_tokens"]) for r in rows)
    completion = sum(int(r["completion_tokens"]) for r in rows)
    return LabelOutcome(
        run_id,
        facts.teacher,
        facts.program.name,
        program_hash,
        facts.votes,
        kept,
        len(rows),
        dict(dropped.most_common()),
        prompt,
        completion,
        teacher_cost(facts.price_name, prompt, completion),
        reused=reused,
        resumed=resumed,
        run_dir=run_dir,
    )


def _view(task: Task, filtered: bool) -> AnswerCheck | None:
    """None for the stored check; without the filter, the check that keeps any non-empty
    answer (its vote key the normalized text)."""
    if filtered:
        return None
    cfg = task.config
    return answer_check(cfg.metric, cfg.output_type, resources={}, filtered=False)


def _revote(row: dict[str, Any], check: AnswerCheck, votes: int) -> dict[str, Any]:
    """A stored row's answers judged by another check, and the vote redone."""
    example = Example(str(row["id"]), dict(row["inputs"]), "", meta=dict(row["meta"]))
    checks = [check(str(c["prediction"]), example) for c in row["candidates"]]
    return {**row, **_verdict(checks, votes)}


def _labelled(row: Mapping[str, Any], stamp: Mapping[str, Any]) -> Example:
    how = {**stamp, "vote_share": row["vote_share"], "kept": row["reason"]}
    meta = {**row["meta"], **row["answer_meta"], "labelling": how}
    return Example(str(row["id"]), dict(row["inputs"]), str(row["answer"]), meta=meta)


def reason_kind(reason: str) -> str:
    return (reason or "unusable").split(":", 1)[0].strip() or "unusable"


def describe_dropped(dropped: Mapping[str, int]) -> str:
    """e.g. "12 syntax/runtime error, 3 empty result" ("none" when nothing was dropped)."""
    return ", ".join(f"{n} {kind}" for kind, n in dropped.items()) or "none"


def check_kept(outcome: LabelOutcome, min_kept: int) -> None:
    """TailorError when fewer than `min_kept` answers were kept, saying why the rest went."""
    if outcome.kept >= min_kept:
        return
    where = outcome.run_dir / ROWS_FILE if outcome.run_dir else f"run {outcome.run_id}"
    raise TailorError(
        f"only {outcome.kept} of {outcome.total} teacher answers are usable, fewer than "
        f"--min-kept {min_kept}; dropped: {describe_dropped(outcome.dropped)}; no task written",
        hint=f"every answer and why it was dropped: {where}; try another --prompt or "
        "teacher, or lower --min-kept",
    )


# ---------------------------------------------------------------------------- cost


def teacher_cost(price_name: str | None, prompt: float, completion: float) -> float | None:
    from tailorlm.costs import PriceTable, tokens_cost

    if price_name is None:
        return None
    return tokens_cost(PriceTable.load(), price_name, prompt, completion)
