"""The LlamaLens presets against the facts file: every value tagged [REPO] or [PAPER] is what that source says.

The table in ../shared/reference/llamalens_facts.md section 6 is read as it is (row name, code column, paper
column), so a preset value that drifts from the facts, or a facts correction the presets miss, fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from lensforge.finetune.config import load_presets

# ../shared/reference beside the checkout (found upwards, so a git worktree nested one level deeper finds it too).
FACTS = next(
    (
        p / "shared" / "reference" / "llamalens_facts.md"
        for p in Path(__file__).resolve().parents[1].parents
        if (p / "shared" / "reference" / "llamalens_facts.md").is_file()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "llamalens_facts.md",
)
LLAMALENS = ("llamalens-qlora", "llamalens-lora")
_TAG = re.compile(r"\[(REPO|PAPER|SEED|LF)\]")


@pytest.fixture(scope="module")
def facts() -> dict[str, tuple[str, str]]:
    """Section 6's table: item -> (repo code column, brief/paper column)."""
    if not FACTS.is_file():
        pytest.fail(f"facts file not found at {FACTS}")
    text = FACTS.read_text(encoding="utf-8")
    section = text.split("## 6.", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("item", "---") and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = (cells[1], cells[2])
    assert {"LoRA", "method", "LR / schedule", "epochs", "seed", "batch", "optimizer", "quantization"} <= set(rows)
    return rows


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in {text!r}"
    return float(m.group(1))


def test_llamalens_presets_match_the_code_column(facts):
    repo = {k: v[0] for k, v in facts.items()}
    for name in LLAMALENS:
        p = load_presets()[name]
        assert p.base_model in repo["base model"], name
        assert p.lora_alpha / p.lora_r == _number(r"alpha=(\d+)", repo["LoRA"]) / _number(r"r=(\d+)", repo["LoRA"])
        assert p.lora_dropout == _number(r"dropout ([\d.]+)", repo["LoRA"]), name
        modules = set(re.findall(r"\b(q|k|v|o|gate|up|down)\b", repo["LoRA"].split("targets", 1)[1]))
        assert set(p.target_modules) == {f"{m}_proj" for m in modules}, name
        assert p.max_length == _number(r"max_seq_length (\d+)", repo["method"]), name
        assert p.packing is ("packing=True" in repo["method"]), name
        assert p.learning_rate == _number(r"([\d.]+e-\d+)", repo["LR / schedule"]), name
        assert p.warmup_steps == _number(r"warmup (\d+) steps", repo["LR / schedule"]), name
        assert p.weight_decay == _number(r"weight_decay ([\d.]+)", repo["optimizer"]), name
        assert p.per_device_batch == _number(r"per-device (\d+)", repo["batch"]), name
        assert p.epochs == _number(r"(\d+)", repo["epochs"]), name
        assert p.seed == _number(r"(\d+)", repo["seed"]), name
        assert p.compute_dtype == "bfloat16" and "bf16" in repo["quantization"], name
        assert "double-quant off" in repo["quantization"]
    qlora = load_presets()["llamalens-qlora"]
    assert qlora.lora_r == _number(r"r=(\d+)", repo["LoRA"])  # the paper's QLoRA rank is not in the facts
    assert qlora.quantization == "4bit" and not qlora.double_quant and "NF4" in repo["quantization"]


def test_where_code_and_paper_disagree_the_paper_is_followed(facts):
    """The facts file: 'take the paper's reported values' (linear vs cosine, r 512 vs 128 for full precision)."""
    repo, paper = ({k: v[i] for k, v in facts.items()} for i in (0, 1))
    assert "cosine" in repo["LR / schedule"] and "linear" in paper["LR / schedule"]
    assert "take the paper's reported values" in FACTS.read_text(encoding="utf-8")
    for name in LLAMALENS:
        p = load_presets()[name]
        assert p.lr_scheduler == "linear", name
        assert p.learning_rate == _number(r"([\d.]+e-\d+)", paper["LR / schedule"]), name
        assert p.per_device_batch * p.grad_accum == _number(r"(\d+)", paper["batch"]), name
    assert load_presets()["llamalens-lora"].lora_r == _number(r"r=(\d+) for full precision", paper["LoRA"])


def test_every_preset_value_names_its_source():
    """Each key of each preset has a source tag beside it (or in the comment block above its table)."""
    text = resources.files("lensforge.finetune").joinpath("presets.toml").read_text(encoding="utf-8")
    presets = tomllib.loads(text)
    table = None
    for line in text.splitlines():
        header = re.match(r"^\[(.+)\]$", line.strip())
        if header:
            table = header.group(1)
            continue
        key = re.match(r"^([a-z_]+)\s*=", line)
        if table is None or key is None or key.group(1) == "description":
            continue
        assert key.group(1) in presets[table], line
        assert _TAG.search(line), f"[{table}] {key.group(1)} has no source tag: {line!r}"
