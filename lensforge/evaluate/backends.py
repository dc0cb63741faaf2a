"""Where answers come from: a local transformers model (optionally with a LoRA adapter) or an
OpenAI-compatible server (vLLM, TGI), both decoding greedily as the paper's zero-shot setting does.

A backend takes conversations (system and user turns, no assistant turn) and returns the raw
generated text of each, in order. Prefix stripping and label extraction happen in the runner, so the
raw text is what gets saved.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Protocol

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import ChatFormat

Messages = list[dict[str, Any]]
Prompt = str | Messages

LABEL_TOKENS = 20  # the paper's max_new_tokens for classification
API_KEY_ENV = "LENSFORGE_EVAL_API_KEY"  # the key of an OpenAI-compatible server, when it wants one
SUMMARY_TOKENS = 64


class Backend(Protocol):
    """What the runner needs; `describe()` (recorded in the eval's params) and `score_labels()` are optional."""

    name: str

    def generate(self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS) -> list[str]: ...


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


class TransformersBackend:
    """A causal LM through transformers: left-padded batches, greedy decoding, optional PEFT adapter."""

    name = "transformers"

    def __init__(
        self,
        model_path: str,
        adapter: str | None = None,
        *,
        chat_format: ChatFormat,
        device: str = "cpu",
        batch_size: int = 16,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_path = model_path
        self.adapter = adapter
        self.chat_format = chat_format
        self.device = device
        self.batch_size = max(1, int(batch_size))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path)
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
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        # The format's end-of-turn markers stop generation when they are single tokens.
        eos = set()
        if tok.eos_token_id is not None:
            eos.add(int(tok.eos_token_id))
        for stop in chat_format.stop:
            ids = tok.encode(stop, add_special_tokens=False)
            if len(ids) == 1:
                eos.add(int(ids[0]))
        self.eos_ids = sorted(eos)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_path,
            "adapter": self.adapter,
            "chat_format": self.chat_format.name,
            "device": self.device,
            "batch_size": self.batch_size,
            "do_sample": False,
        }

    def render(self, prompt: Prompt) -> str:
        """A conversation in the model's chat format, up to where the answer begins."""
        return prompt if isinstance(prompt, str) else self.chat_format.prompt(without_answer(prompt))

    def _encode(self, texts: Sequence[str]) -> Any:
        # The chat format writes its own BOS, so the tokenizer must not add another.
        return self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def generate(self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS) -> list[str]:
        """Greedy continuations, batched by prompt length, returned in input order."""
        import torch

        texts = [self.render(c) for c in conversations]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self._encode([texts[i] for i in idx])
            with torch.inference_mode():
                generated = self.model.generate(
                    **batch,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=self.eos_ids or None,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = generated[:, batch["input_ids"].shape[1] :]
            for row, i in enumerate(idx):
                text = self.tokenizer.decode(new[row], skip_special_tokens=True)
                out[i] = cut_at_stop(text, self.chat_format.stop)
        return out

    def score_labels(
        self, prompts: Sequence[Prompt], label_candidates: Sequence[str], *, answer_prefix: str = "Label: "
    ) -> list[list[float]]:
        """Log-probability of each candidate answer ("Label: <label>" and the end-of-turn marker) per prompt.

        The sum over the answer's tokens, scored with right padding so positions match an unpadded run.
        """
        import torch

        tok = self.tokenizer
        texts = [self.render(p) for p in prompts]
        prompt_ids = [tok.encode(t, add_special_tokens=False) for t in texts]
        cand_ids = [
            tok.encode(answer_prefix + c + self.chat_format.assistant_suffix, add_special_tokens=False)
            for c in label_candidates
        ]
        pairs = [(p, c) for p in range(len(texts)) for c in range(len(label_candidates))]
        scores = [[0.0] * len(label_candidates) for _ in texts]
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            seqs = [prompt_ids[p] + cand_ids[c] for p, c in chunk]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for row, seq in enumerate(seqs):
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, (p, c) in enumerate(chunk):
                first = len(prompt_ids[p])
                targets = torch.tensor(cand_ids[c])
                positions = torch.arange(first - 1, first - 1 + len(targets))
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

    def _one(self, prompt: Prompt, max_new_tokens: int) -> str:
        import openai

        from lensforge.instruct.retry import call_with_retries

        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else without_answer(prompt)

        def call() -> Any:
            return self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.0, top_p=1.0, max_tokens=max_new_tokens
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

    def generate(self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS) -> list[str]:
        """Answers in input order; at most `concurrency` requests in flight; the first failure stops the rest."""
        out: list[str] = [""] * len(conversations)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="eval") as pool:
            futures = {pool.submit(self._one, conv, max_new_tokens): i for i, conv in enumerate(conversations)}
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
