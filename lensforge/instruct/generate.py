"""The instruction factory: a prompt from catalog metadata, N valid instructions per dataset and language.

LlamaLens asked GPT-4o and Claude-3.5 Sonnet for 20 instructions per dataset from its name, language,
task, task definition and label space, in English and in the dataset's native language. Here the
request is split across the configured providers, every candidate is validated, rejects are stored
with their reason, and top-up requests run until N are valid or the retry budget is spent.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from lensforge.catalog.datasets import entry_from_catalog, resolve
from lensforge.catalog.db import connect, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.spec import DatasetEntry
from lensforge.curate.labels import tidy
from lensforge.errors import LensforgeError
from lensforge.instruct.checks import check_instruction, parse_instructions
from lensforge.instruct.providers.base import LLMRequest, Provider
from lensforge.instruct.store import active_instructions, add_instructions, record_rejects
from lensforge.workspace import Workspace

DEFAULT_N = 20
NATIVE = {"ar": "Arabic", "hi": "Hindi"}
SYSTEM = (
    "You write task instructions for an instruction-tuning dataset of news and social-media analysis. "
    'Reply with a JSON object {"instructions": [...]} and nothing else.'
)


@dataclass
class Target:
    dataset_id: str
    entry: DatasetEntry
    language: str  # instruction language
    labels: list[str]
    native_labels: dict[str, str]


def dataset_labels(ws: Workspace, dataset_id: str, entry: DatasetEntry) -> list[str]:
    """The canonical label space: the curated mapping's targets when the set is ingested, else the registry's."""
    if entry.task_type == "generation":
        return []
    try:
        from lensforge.curate.mappings import review

        after = review(ws, dataset_id)["after"]
        if after:
            return sorted(after)
    except LensforgeError:
        pass
    return sorted({tidy(lab) for lab in entry.label_space})


def native_names(ws: Workspace, entry: DatasetEntry, labels: list[str], language: str) -> dict[str, str]:
    """English canonical label -> name in `language`: the registry's names first, then the project's table."""
    out: dict[str, str] = {}
    for label, names in entry.label_native.items():
        if language in names and tidy(label) in labels:
            out[tidy(label)] = names[language]
    reverse: dict[str, str] = {}
    for path in (resources.files("lensforge.curate").joinpath("native_labels.yaml"), ws.root / "native_labels.yaml"):
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for native, english in (data.get(language) or {}).items():
            reverse.setdefault(str(english), str(native))
    for lab in labels:
        if lab not in out and lab in reverse:
            out[lab] = reverse[lab]
    return out


def build_prompt(target: Target, n: int, avoid: list[str]) -> str:
    """The user prompt: the dataset's metadata and the rules every instruction must meet."""
    e = target.entry
    lang_name = {"en": "English", **NATIVE}.get(target.language, target.language)
    data_lang = {"en": "English", **NATIVE}.get(e.language, e.language)
    lines = [
        f"Dataset: {e.name} ({data_lang})",
        f"Task: {e.task} ({e.task_type.replace('_', ' ')})",
    ]
    if e.task_definition:
        lines.append(f"Task definition: {e.task_definition}")
    if target.labels:
        shown = [
            f"{lab} ({target.native_labels[lab]})" if lab in target.native_labels else lab for lab in target.labels
        ]
        lines.append("Labels: " + ", ".join(shown))
    lines += [
        "",
        f"Write {n} different instructions, in {lang_name}, that ask a model to perform this task on one input.",
        "Each instruction: 40 to 600 characters; varied wording;",
    ]
    if target.labels:
        lines.append("names every label above and asks for the label only;")
    if e.task_type == "multilabel":
        lines.append("says that several labels may apply and that they are separated by commas;")
    if e.task_type == "pair_classification":
        lines.append("refers to both input texts;")
    if e.task_type == "generation":
        lines.append("asks for a one-sentence summary;")
    if avoid:
        lines.append("different from these existing instructions:")
        lines += [f"- {a}" for a in avoid[:40]]
    lines.append('Reply as JSON: {"instructions": ["...", "..."]}')
    return "\n".join(lines)


def make_request(target: Target, k: int, accepted: list[str], *, round_no: int, seed: int) -> LLMRequest:
    """One generation request; top-up rounds say their number so they are not answered from the cache."""
    e = target.entry
    prompt = build_prompt(target, k, accepted)
    if round_no:
        prompt += f"\n(top-up request {round_no + 1})"
    return LLMRequest(
        system=SYSTEM,
        user=prompt,
        metadata={
            "dataset_id": target.dataset_id,
            "name": e.name,
            "language": e.language,
            "instruction_language": target.language,
            "task": e.task,
            "task_type": e.task_type,
            "task_definition": e.task_definition,
            "labels": target.labels,
            "native_labels": target.native_labels,
            "n": k,
            "seed": seed + round_no,
            "avoid": list(accepted),
        },
    )


def first_round_requests(
    ws: Workspace, ref: str, *, providers: list[Provider], n: int, languages: str, seed: int = 0
) -> list[tuple[int, LLMRequest]]:
    """The (provider index, request) pairs the first round of `generate_for` will send (for batch prefetch).

    As in `generate_for`, the active instructions are read once and the label space (the mapping's review,
    which reads the rows) only when a language still needs instructions."""
    with connect(ws, read_only=True) as con:
        did = resolve(con, ref)
        entry = entry_from_catalog(con, did)
    have = active_instructions(ws, [did])
    labels: list[str] | None = None
    out = []
    for lang in instruction_languages(entry, languages):
        existing = [r["text"] for r in have.get((did, lang), [])]
        missing = n - len(existing)
        if missing <= 0:
            continue
        if labels is None:
            labels = dataset_labels(ws, did, entry)
        target = Target(did, entry, lang, labels, native_names(ws, entry, labels, lang) if lang != "en" else {})
        for i, k in enumerate(_share(missing, len(providers))):
            if k > 0:
                out.append((i, make_request(target, k, existing, round_no=0, seed=seed)))
    return out


def _share(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


@dataclass
class Outcome:
    dataset_id: str
    language: str
    requested: int
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    requests_sent: int = 0
    cache_hits: int = 0
    status: str = "generated"  # generated | complete (already had N)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "language": self.language,
            "requested": self.requested,
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "reject_reasons": sorted({r["reason"].split(":")[0] for r in self.rejected}),
            "requests_sent": self.requests_sent,
            "cache_hits": self.cache_hits,
            "status": self.status,
        }


def instruction_languages(entry: DatasetEntry, mode: str) -> list[str]:
    """en, native (ar/hi datasets; English sets have no separate native set) or both."""
    if mode not in ("en", "native", "both"):
        raise LensforgeError(f"unknown instruction language mode {mode!r} (use en, native or both)")
    native = entry.language if entry.language in NATIVE else None
    if mode == "en":
        return ["en"]
    if mode == "native":
        return [native or "en"]
    return ["en", native] if native else ["en"]


def generate_for(
    ws: Workspace,
    ref: str,
    *,
    providers: list[Provider],
    n: int = DEFAULT_N,
    languages: str = "both",
    max_rounds: int = 4,
    concurrency: int = 4,
    seed: int = 0,
    actor: str = "auto",
    known: tuple[DatasetEntry, dict[tuple[str, str], list[dict[str, Any]]]] | None = None,
) -> list[Outcome]:
    """N valid instructions per instruction language for one dataset; a clear error when the budget runs out.

    `actor` is who asked (recorded on the `instruct.generate` event); "auto" only when nobody did. `known`: the
    dataset's entry and active instructions when the caller read them (for many datasets at once; `ref` is then
    the resolved id). The label space (the mapping's review, which reads the rows) is read only when a language
    needs instructions."""
    from lensforge.instruct.client import CachingClient

    if not providers:
        raise LensforgeError("no instruction provider configured")
    if known is None:
        with connect(ws, read_only=True) as con:
            did = resolve(con, ref)
            entry = entry_from_catalog(con, did)
        have = active_instructions(ws, [did])
    else:
        entry, have = known  # an empty `have`: the caller found no active instructions
        did = entry.dataset_id
    langs = instruction_languages(entry, languages)
    clients = [CachingClient(p, ws, concurrency=concurrency) for p in providers]
    outcomes = []
    labels: list[str] | None = None  # read only when some language needs instructions (the mapping's review)
    for lang in langs:
        existing = [r["text"] for r in have.get((did, lang), [])]
        need = n - len(existing)
        outcome = Outcome(did, lang, n)
        if need <= 0:
            outcome.status = "complete"
            outcomes.append(outcome)
            continue
        if labels is None:
            labels = dataset_labels(ws, did, entry)
        target = Target(did, entry, lang, labels, native_names(ws, entry, labels, lang) if lang != "en" else {})
        accepted_texts = list(existing)
        for round_no in range(max_rounds):
            missing = n - len(accepted_texts)
            if missing <= 0:
                break
            shares = [(c, k) for c, k in zip(clients, _share(missing, len(clients)), strict=True) if k > 0]
            for client, k in shares:
                request = make_request(target, k, accepted_texts, round_no=round_no, seed=seed)
                prompt = request.user
                response = client.complete(request, dataset_id=did)
                if response.cached:
                    outcome.cache_hits += 1
                else:
                    outcome.requests_sent += 1
                prompt_id = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
                candidates = parse_instructions(response.text)
                if not candidates:
                    outcome.rejected.append(
                        {
                            "text": response.text[:500],
                            "reason": "unparseable: reply is not a JSON list of instructions",
                            "provider": response.provider,
                            "model": response.model,
                            "prompt_id": prompt_id,
                        }
                    )
                    continue
                for text in candidates:
                    if len(accepted_texts) >= n:
                        break
                    check = check_instruction(
                        text,
                        language=lang,
                        task_type=entry.task_type,
                        labels=labels,
                        native_labels=target.native_labels,
                        accepted=accepted_texts,
                    )
                    record = {
                        "text": text,
                        "provider": response.provider,
                        "model": response.model,
                        "prompt_id": prompt_id,
                    }
                    if check.ok:
                        accepted_texts.append(text)
                        outcome.accepted.append(record)
                    else:
                        outcome.rejected.append({**record, "reason": check.reason})
        _store(
            ws,
            outcome,
            existing_count=len(existing),
            complete=len(accepted_texts) >= n,
            label_space=labels,
            actor=actor,
        )
        if len(accepted_texts) < n:
            reasons = sorted({r["reason"].split(":")[0] for r in outcome.rejected}) or ["too few returned"]
            raise LensforgeError(
                f"{did}: only {len(accepted_texts)} of {n} valid {lang} instructions after {max_rounds} rounds "
                f"(rejected: {', '.join(reasons)})",
                hint="see `lensforge instruct rejects`; try another provider or a smaller --n",
            )
        outcomes.append(outcome)
    return outcomes


def _store(
    ws: Workspace, outcome: Outcome, *, existing_count: int, complete: bool, label_space: list[str], actor: str
) -> None:
    """Rejects are always kept; accepted instructions only when the set is complete (nothing half-written).

    Each instruction records the label space it was written for, so a snapshot can refuse it after a relabel.
    """
    with transaction(ws) as con:
        record_rejects(con, outcome.dataset_id, outcome.language, outcome.rejected)
        if not complete:
            return
        add_instructions(
            con, outcome.dataset_id, outcome.language, outcome.accepted, start=existing_count, label_space=label_space
        )
        if outcome.accepted:
            record_event(
                con,
                actor=actor,
                kind="instruct.generate",
                subject=outcome.dataset_id,
                payload={k: v for k, v in outcome.as_dict().items() if k != "dataset_id"},
            )


def default_provider_names() -> list[str]:
    """The providers whose API key is set; the offline provider when none is."""
    names = [n for n, var in (("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")) if os.environ.get(var)]
    return names or ["offline"]


def make_providers(names: list[str] | None = None, models: dict[str, str] | None = None) -> list[Provider]:
    """Provider objects by name (openai, anthropic, offline); keys come only from the environment."""
    models = models or {}
    out: list[Provider] = []
    for name in names or default_provider_names():
        if name == "offline":
            from lensforge.instruct.providers.offline import OfflineProvider

            out.append(OfflineProvider(**({"model": models["offline"]} if "offline" in models else {})))
        elif name == "openai":
            from lensforge.instruct.providers.openai_provider import OpenAIProvider

            out.append(OpenAIProvider(**({"model": models["openai"]} if "openai" in models else {})))
        elif name == "anthropic":
            from lensforge.instruct.providers.anthropic_provider import AnthropicProvider

            out.append(AnthropicProvider(**({"model": models["anthropic"]} if "anthropic" in models else {})))
        else:
            raise LensforgeError(f"unknown provider {name!r} (use openai, anthropic or offline)")
    return out
