"""Where answers come from: a local transformers model (optionally with a LoRA adapter) or an
OpenAI-compatible server (vLLM, TGI), both decoding greedily as the paper's zero-shot setting does.

A backend takes conversations (system and user turns, no assistant turn) and returns the raw generated text of
each, in order. The transformers backend renders them with the model's chat template through the function
training uses (`lensforge.finetune.chat.render`); a server applies its own template. Prefix stripping and label
extraction happen in the runner, so the raw text is what gets saved.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import ChatTemplate, render, resolve_template, turn_end

Messages = list[dict[str, Any]]
Prompt = str | Messages

LABEL_TOKENS = 20  # the paper's max_new_tokens for classification
API_KEY_ENV = "LENSFORGE_EVAL_API_KEY"  # the key of an OpenAI-compatible server, when it wants one
SUMMARY_TOKENS = 64  # a cap: summaries stop earlier, at their first full stop (SUMMARY_STOP)
SUMMARY_STOP = (".", "।")  # the paper stops summary generation on "."; Hindi ends sentences with the danda


class Backend(Protocol):
    """What the runner needs; `describe()` (recorded in the eval's params) and `score_labels()` are optional."""

    name: str

    def generate(self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS) -> list[str]: ...


def accepts_stop(backend: Any) -> bool:
    """Whether a backend's generate() takes `stop` strings (backends written before it did still work)."""
    import inspect

    try:
        return "stop" in inspect.signature(backend.generate).parameters
    except (TypeError, ValueError):
        return False


def without_answer(messages: Messages) -> Messages:
    """The conversation up to the assistant's turn (the snapshot rows carry the gold answer as that turn)."""
    return [m for m in messages if m["role"] != "assistant"]


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """Text up to the first stop string (end-of-turn markers the model may emit as plain text)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def _has_tokenizer(folder: str | None) -> bool:
    """A training run saves the tokenizer, with the chat template it trained with, beside its adapter."""
    return bool(folder) and Path(folder, "tokenizer_config.json").is_file()


def load_tokenizer(
    model_path: str, adapter: str | None, chat_template: str | None, *, fallback: str | None = None
) -> tuple[Any, ChatTemplate]:
    """The tokenizer evaluation renders with (the adapter's when its run saved one) and its resolved chat template.

    The template: `chat_template` when given, else the tokenizer's own, else `fallback` (a template a run named).
    Cheap (no weights), so the runner calls it before recording an evaluation: a model without a template is an
    error before anything starts.
    """
    from transformers import AutoTokenizer

    source = adapter if adapter and _has_tokenizer(adapter) else model_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise LensforgeError(
            f"cannot load the tokenizer of {source!r}: {exc}", hint="pass a local model folder or a cached Hub name"
        ) from exc
    if chat_template is None and fallback is not None and not getattr(tokenizer, "chat_template", None):
        chat_template = fallback
    return tokenizer, resolve_template(tokenizer, chat_template, model=model_path)


class TransformersBackend:
    """A causal LM through transformers: left-padded batches, greedy decoding, optional PEFT adapter.

    Prompts are rendered by `lensforge.finetune.chat.render`, the function training uses, so an adapter is
    evaluated on exactly the prompt tokens it was trained on. The tokenizer (and so its chat template) comes from
    the adapter folder when the run saved one there, else from the model.
    """

    name = "transformers"

    def __init__(
        self,
        model_path: str,
        adapter: str | None = None,
        *,
        chat_template: str | None = None,
        fallback_template: str | None = None,
        device: str = "cpu",
        batch_size: int = 16,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.model_path = model_path
        self.adapter = adapter
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.tokenizer, self.template = load_tokenizer(model_path, adapter, chat_template, fallback=fallback_template)
        try:
            dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
            model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        except OSError as exc:
            raise LensforgeError(
                f"cannot load model {model_path!r}: {exc}", hint="pass a local model folder or a cached Hub name"
            ) from exc
        if adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, adapter)
            except (OSError, ValueError) as exc:
                raise LensforgeError(f"cannot load adapter {adapter!r}: {exc}") from exc
        self.model = model.to(device).eval()
        tok = self.tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        # Generation stops at the eos tokens and at the template's end-of-turn token (<|eot_id|>, <|im_end|>...).
        end_ids, self.turn_end = turn_end(tok, self.template)
        eos = set(end_ids)
        for source in (tok.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            eos.update([source] if isinstance(source, int) else (source or []))
        self.eos_ids = sorted(int(i) for i in eos)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_path,
            "adapter": self.adapter,
            "chat_template": self.template.name,
            "chat_template_sha": self.template.sha,
            "device": self.device,
            "batch_size": self.batch_size,
            "do_sample": False,
        }

    def prompt_ids(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        """Token ids of each prompt up to where the answer begins (a plain string is taken as already rendered)."""
        convs = [p for p in prompts if not isinstance(p, str)]
        rendered = iter(render(self.tokenizer, [without_answer(c) for c in convs], self.template))
        return [
            self.tokenizer.encode(p, add_special_tokens=False) if isinstance(p, str) else next(rendered).prompt_ids
            for p in prompts
        ]

    def generate(
        self,
        conversations: Sequence[Prompt],
        *,
        max_new_tokens: int = LABEL_TOKENS,
        stop: Sequence[str] = (),
    ) -> list[str]:
        """Greedy continuations, batched by prompt length, returned in input order.

        `stop`: strings that end a row's generation as soon as it writes one (a stopping criterion, e.g. "." for
        summaries); the text keeps the stop string.
        """
        import torch

        ids = self.prompt_ids(conversations)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        pad = int(self.tokenizer.pad_token_id)
        extra: dict[str, Any] = {"stop_strings": list(stop), "tokenizer": self.tokenizer} if stop else {}
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):  # left padding: every prompt ends where generation starts
                batch[row, width - len(ids[i]) :] = torch.tensor(ids[i], dtype=torch.long)
                mask[row, width - len(ids[i]) :] = 1
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=batch.to(self.device),
                    attention_mask=mask.to(self.device),
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=self.eos_ids or None,
                    pad_token_id=pad,
                    **extra,
                )
            new = generated[:, width:]
            for row, i in enumerate(idx):
                text = self.tokenizer.decode(new[row], skip_special_tokens=True)
                out[i] = cut_at_stop(text, [self.turn_end])
        return out

    def score_labels(
        self, prompts: Sequence[Prompt], label_candidates: Sequence[str], *, answer_prefix: str = "Label: "
    ) -> list[list[float]]:
        """Log-probability of each candidate answer ("Label: <label>" and the end-of-turn marker) per prompt.

        Each (prompt, candidate) pair is rendered as a whole conversation, as training renders it; the score is
        the sum over the answer's tokens, computed with right padding so positions match an unpadded run.
        """
        import torch

        convs = [without_answer(p) if not isinstance(p, str) else [{"role": "user", "content": p}] for p in prompts]
        pairs = [(p, c) for p in range(len(convs)) for c in range(len(label_candidates))]
        whole = render(
            self.tokenizer,
            [[*convs[p], {"role": "assistant", "content": answer_prefix + label_candidates[c]}] for p, c in pairs],
            self.template,
        )
        scores = [[0.0] * len(label_candidates) for _ in convs]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(pairs), self.batch_size):
            chunk = list(range(start, min(start + self.batch_size, len(pairs))))
            width = max(len(whole[k].input_ids) for k in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, k in enumerate(chunk):
                seq = whole[k].input_ids
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, k in enumerate(chunk):
                first = len(whole[k].prompt_ids)
                targets = torch.tensor(whole[k].input_ids[first:])
                positions = torch.arange(first - 1, first - 1 + len(targets))
                p, c = pairs[k]
                scores[p][c] = float(logp[row, positions, targets].sum())
        return scores


class OpenAICompatibleBackend:
    """Chat completions from a vLLM/TGI server through the official SDK, a bounded number at a time.

    Transient failures (429, 5xx, timeouts, refused connections) are retried with jittered exponential
    backoff; when a request still fails, the whole generation raises, so no partial result is kept.
    """

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        retry_base: float = 0.5,
        retry_cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai

        if not base_url:
            raise LensforgeError("the openai-compatible backend needs a base URL", hint="e.g. http://host:8000/v1")
        self.base_url = base_url
        self.model = model
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.sleep = sleep
        self.rng = random.Random(0)
        # Not $OPENAI_API_KEY: a self-hosted server must never be sent the user's OpenAI key by accident.
        key = api_key or os.environ.get(API_KEY_ENV) or "EMPTY"
        # max_retries=0: our policy retries (and is testable); the SDK must not retry behind it.
        self.client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "temperature": 0.0,
            "top_p": 1.0,
        }

    def _one(self, prompt: Prompt, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        import openai

        from lensforge.instruct.retry import call_with_retries

        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else without_answer(prompt)

        def call() -> Any:
            extra = {"stop": list(stop)} if stop else {}  # the server stops there (and leaves the stop text out)
            return self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.0, top_p=1.0, max_tokens=max_new_tokens, **extra
            )

        try:
            completion = call_with_retries(
                call,
                max_attempts=self.max_retries + 1,
                base=self.retry_base,
                cap=self.retry_cap,
                sleep=self.sleep,
                rng=self.rng,
                provider="request",
            )
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
            raise LensforgeError(f"the model server at {self.base_url} sent a malformed response") from exc
        except LensforgeError as exc:
            cause = exc.__cause__
            if isinstance(cause, openai.APIStatusError) and not (cause.status_code == 429 or cause.status_code >= 500):
                raise LensforgeError(
                    f"the model server at {self.base_url} refused the request: {exc.message}",
                    hint=f"check that it serves a model named {self.model!r}",
                ) from exc
            raise LensforgeError(
                f"the model server at {self.base_url} did not answer: {exc.message}",
                hint="check the server is up, or allow more time (timeout, retries)",
            ) from exc
        choices = getattr(completion, "choices", None) or []
        content = choices[0].message.content if choices else None
        return content or ""

    def generate(
        self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS, stop: Sequence[str] = ()
    ) -> list[str]:
        """Answers in input order; at most `concurrency` requests in flight; the first failure stops the rest."""
        out: list[str] = [""] * len(conversations)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="eval") as pool:
            futures = {pool.submit(self._one, conv, max_new_tokens, stop): i for i, conv in enumerate(conversations)}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                for f in pending:
                    f.cancel()
                exc = failed.exception()
                assert exc is not None
                raise exc
            for f, i in futures.items():
                out[i] = f.result()
        return out
