"""How far does synthetic training data get? Fine-tune on `tailor data synth-sql` output vs on
the hand-labelled sql-sales train split, and score both on the hand-labelled sql-sales test split.

    .venv/bin/python scripts/synth_vs_real.py --dry-run        # synthesize + check, no training
    .venv/bin/python scripts/synth_vs_real.py                  # the whole comparison (hours on CPU)
    .venv/bin/python scripts/synth_vs_real.py --max-steps 300 --limit 100   # a shorter version

Steps:
1. synth-sql: `--n` question/SQL pairs generated from sales.db's schema and values alone.
2. a task folder `synth-train`: synthetic rows as train (synth-sql's train and test splits) and
   dev (its dev split), and the built-in sql-sales test split as test (the same task.yaml, so
   the same default prompt). Synthetic rows whose question also appears in that test split are
   dropped, so nothing leaks.
3. LoRA fine-tunes with one configuration: on the synthetic rows, and on the real train split
   cut to the same number of rows (`--real-size match`, the default) or all 581 (`all`).
4. each fine-tuned model, and the base model, evaluated on the sql-sales test split with the
   short prompt the fine-tunes were trained with. Results print as a table and are written to
   `--work`/results.json.

Runs are stored in the run store like any other (`tailor runs`), and reused when repeated.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from tailorlm.backends import LazyBackend
from tailorlm.experiments import run_eval
from tailorlm.finetune import FinetuneConfig
from tailorlm.tasks import BUILTIN_DIR, load_task, validate_task
from tailorlm.tasks.folder import read_jsonl, write_jsonl
from tailorlm.tasks.splitting import normalize
from tailorlm.tasks.synth_sql import synth_sql
from tailorlm.training import adapter_path_for_run, program_path_for_run, run_finetune

SALES = BUILTIN_DIR / "sql-sales"


def main() -> int:
    args = _parse()
    work = Path(args.work)
    train_task = build_train_task(work, args.n, args.seed)
    print(f"synthetic task: {train_task} ({_rows(train_task, 'train')} train rows)")
    if args.dry_run:
        return 0
    synth_rows = _rows(train_task, "train")
    real_size = synth_rows if args.real_size == "match" else None
    runs = {}
    for label, task, size in (
        (f"fine-tuned on {synth_rows} synthetic rows", train_task, None),
        (f"fine-tuned on {real_size or 'all'} real rows", "sql-sales", real_size),
    ):
        config = FinetuneConfig(seed=args.seed, max_steps=args.max_steps, train_size=size)
        runs[label] = run_finetune(task, model=args.model, config=config).run_id
    # The base model gets the same short prompt the fine-tunes were trained with.
    same_prompt = program_path_for_run(next(iter(runs.values())))
    results = {"base model, same prompt": _score(LazyBackend(args.model), same_prompt, args.limit)}
    for label, run_id in runs.items():
        base, adapter = adapter_path_for_run(run_id)
        backend = LazyBackend(base, adapter=adapter)
        results[label] = _score(backend, program_path_for_run(run_id), args.limit)
    _report(results, work / "results.json")
    return 0


def build_train_task(work: Path, n: int, seed: int) -> Path:
    """synth-sql output with the hand-labelled sql-sales test split as its test split."""
    synth_dir, task_dir = work / "synth", work / "synth-train"
    shutil.rmtree(synth_dir, ignore_errors=True)
    shutil.rmtree(task_dir, ignore_errors=True)
    synth_sql(SALES / "sales.db", n=n, out=synth_dir, seed=seed)
    task_dir.mkdir(parents=True)
    yaml_text = (SALES / "task.yaml").read_text(encoding="utf-8")
    (task_dir / "task.yaml").write_text(
        yaml_text.replace("name: sql-sales", "name: sql-sales-synth-train", 1), encoding="utf-8"
    )
    shutil.copy(SALES / "sales.db", task_dir / "sales.db")
    shutil.copy(SALES / "test.jsonl", task_dir / "test.jsonl")
    test_questions = {
        normalize(r["input"]["question"]) for _, r in read_jsonl(SALES / "test.jsonl")
    }
    # The hand-labelled test split takes the place of the synthetic one, whose rows train.
    for split, sources in (("train", ("train", "test")), ("dev", ("dev",))):
        rows = [r for name in sources for _, r in read_jsonl(synth_dir / f"{name}.jsonl")]
        kept = [r for r in rows if normalize(r["input"]["question"]) not in test_questions]
        write_jsonl(task_dir / f"{split}.jsonl", kept)
    report = validate_task(task_dir)
    if report.errors:
        raise SystemExit(f"synthetic task does not validate: {report.errors[0]}")
    return task_dir


def _score(backend: LazyBackend, prompt: Path, limit: int | None) -> dict[str, Any]:
    task = load_task("sql-sales")
    outcome = run_eval(task, model=backend, prompt_file=prompt, limit=limit)
    s = outcome.summary
    return {
        "quality": s.quality,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "n": s.n,
        "run": outcome.run_id,
    }


def _report(results: dict[str, dict[str, Any]], path: Path) -> None:
    print(f"\n{'system':45} {'exec. accuracy':>15} {'95% CI':>17} {'n':>5}")
    for label, r in results.items():
        ci = f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}]"
        print(f"{label:45} {r['quality']:>15.1%} {ci:>17} {r['n']:>5}")
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {path}")


def _rows(task_dir: Path, split: str) -> int:
    return len(read_jsonl(task_dir / f"{split}.jsonl"))


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=300, help="synthetic pairs to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="base model (default: smollm2-135m)")
    p.add_argument("--max-steps", type=int, default=None, help="cap each fine-tune's steps")
    p.add_argument("--limit", type=int, default=None, help="test examples (default: all 203)")
    p.add_argument("--real-size", choices=("match", "all"), default="match")
    p.add_argument("--work", default="synth-vs-real", help="folder for the generated tasks")
    p.add_argument("--dry-run", action="store_true", help="only synthesize and check the data")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(main())
