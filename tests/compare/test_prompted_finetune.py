"""Prompt -> weights: the prompted fine-tune trains on rows rendered with the best prompt,
and every training row carries the schema of its own database (a multi-database task)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import yaml

from tailorlm.compare.systems.prompted_finetune import TRAIN_DEMOS, training_program
from tailorlm.finetune import FinetuneConfig
from tailorlm.finetune.runner import prepare
from tailorlm.prompting.requests import build_messages
from tailorlm.prompting.strategies import get_strategy
from tailorlm.tasks import load_task
from tailorlm.tasks.loader import BUILTIN_DIR


def _two_database_task(tmp_path: Path) -> Path:
    """sql-sales, with every third train row asking about a second database (a zoo)."""
    root = Path(shutil.copytree(BUILTIN_DIR / "sql-sales", tmp_path / "task"))
    with sqlite3.connect(root / "zoo.db") as conn:
        conn.execute("CREATE TABLE keepers (keeper_id INTEGER PRIMARY KEY, shift TEXT)")
        conn.execute("INSERT INTO keepers VALUES (1, 'early')")
    config = yaml.safe_load((root / "task.yaml").read_text())
    config["resources"]["zoo"] = "zoo.db"
    (root / "task.yaml").write_text(yaml.safe_dump(config))
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row.update(db="zoo", output="SELECT shift FROM keepers")
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_training_rows_carry_the_schema_of_their_own_database(tmp_path, tiny_model_dir):
    task = load_task(_two_database_task(tmp_path), allow_overlap=True)
    best = get_strategy("role+context+format+few-shot:similarity=lexical")(task)
    program = training_program(best)
    assert program.demo_selector is not None and program.demo_selector.k <= TRAIN_DEMOS
    config = FinetuneConfig(train_size=None, dev_limit=4, max_steps=1, metric_limit=0)
    prep = prepare(task, str(tiny_model_dir), config, program)
    by_id = {ex.id: ex for ex in task.split("train")}
    zoo_rows = 0
    for row in prep.train_rows[:30]:
        example = by_id[row.id]
        system = build_messages(program, example, task.resources())[0]["content"]
        zoo = str(example.meta.get("db", "")).endswith("zoo.db")
        zoo_rows += zoo
        assert ("keepers(" in system) == zoo, row.id
        assert ("order_items" in system) != zoo, row.id
        # ... and that system message is what the row trains on.
        prompt = prep.tokenizer.decode(row.input_ids[: row.prompt_len])
        assert "".join(system.split()) in "".join(prompt.split()), row.id
    assert 0 < zoo_rows < 30  # both databases among the rows checked
    assert prep.record["program"]["name"].startswith("prompted(")
