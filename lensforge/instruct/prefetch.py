"""`instruct generate --batch`: send the first round of every dataset through the providers' batch APIs.

The answers land in the response cache, so the normal generation loop then reads them without a
request; top-ups (usually few) go out directly. An interrupted run resumes polling the same batch.
"""

from __future__ import annotations

from collections.abc import Callable

from lensforge.instruct.generate import first_round_requests
from lensforge.instruct.providers.base import Provider
from lensforge.workspace import Workspace


def prefetch_with_batches(
    ws: Workspace,
    targets: list[str],
    *,
    providers: list[Provider],
    n: int,
    languages: str,
    on_note: Callable[[str], None] | None = None,
    poll_interval: float = 30.0,
) -> dict[str, int]:
    """One batch per provider and dataset (the ledger keeps per-dataset costs); `run_batch` resumes an
    unfinished batch holding the same requests instead of submitting it again. `on_note` hears of each batch
    as it goes out (a long wait follows)."""
    from lensforge.instruct.batch import run_batch

    sent: dict[str, int] = {p.name: 0 for p in providers}
    for did in targets:
        groups: dict[int, list] = {}
        for index, request in first_round_requests(ws, did, providers=providers, n=n, languages=languages):
            groups.setdefault(index, []).append(request)
        for index, requests in groups.items():
            provider = providers[index]
            if provider.name == "offline":
                continue
            if on_note is not None:
                on_note(f"{did}: {len(requests)} request(s) to {provider.name} as a batch (resumable)")
            run_batch(provider, requests, ws, dataset_id=did, purpose="instructions", poll_interval=poll_interval)
            sent[provider.name] += len(requests)
    return sent
