"""The cost ledger: one `llm_calls` row per request actually sent, priced from a TOML price table.

Prices ship in `lensforge/instruct/prices.toml` (USD per 1M input / output tokens); a workspace's own
`prices.toml` overrides entries, so a price change never needs a release. A model with no price is
recorded at cost 0 and reported as unpriced, because a missing price must not stop a paid-for run
from being recorded.
"""

from __future__ import annotations

import tomllib
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lensforge.catalog.db import connect, query_frame, transaction
from lensforge.errors import LensforgeError
from lensforge.instruct.providers.base import LLMResponse
from lensforge.workspace import Workspace

PRICES_FILE = "prices.toml"
WILDCARD = "*"
TOTAL = "TOTAL"


class Price(BaseModel):
    """USD per one million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


class PriceTable(BaseModel):
    """Prices by provider, then model ("*" prices every model of a provider)."""

    model_config = ConfigDict(extra="forbid")

    batch_discount: float = Field(default=1.0, gt=0, le=1)
    providers: dict[str, dict[str, Price]] = Field(default_factory=dict)

    def lookup(self, provider: str, model: str) -> Price | None:
        """The price for a model: an exact entry first, then the provider's wildcard; None if unpriced."""
        models = self.providers.get(provider, {})
        return models.get(model) or models.get(WILDCARD)

    def cost(self, response: LLMResponse, *, batched: bool = False) -> tuple[float, bool]:
        """(cost in USD, whether the model was priced) for one response."""
        price = self.lookup(response.provider, response.model)
        if price is None:
            return 0.0, False
        cost = price.cost(response.input_tokens, response.output_tokens)
        return (cost * self.batch_discount if batched else cost), True


def _parse(text: str, origin: str, *, partial: bool) -> tuple[PriceTable, bool]:
    """Validate one price file; returns the table and whether it set batch_discount itself."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LensforgeError(f"{origin}: not valid TOML: {exc}") from None
    has_discount = "batch_discount" in data
    raw = {"providers": {k: v for k, v in data.items() if k != "batch_discount"}}
    if has_discount:
        raw["batch_discount"] = data["batch_discount"]
    for provider, models in raw["providers"].items():
        if not isinstance(models, dict):
            raise LensforgeError(f'{origin}: `{provider}` must be a table of models ([{provider}."MODEL"])')
    try:
        table = PriceTable.model_validate(raw)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'] if p != 'providers')}: {e['msg']}" for e in exc.errors()]
        raise LensforgeError(
            f"{origin}: invalid price table: " + "; ".join(parts),
            hint="each model needs input_per_mtok and output_per_mtok (USD per 1M tokens, >= 0)",
        ) from None
    if not partial and not table.providers:
        raise LensforgeError(f"{origin}: the price table lists no models")
    return table, has_discount


def load_prices(ws: Workspace | None = None) -> PriceTable:
    """The shipped price table, with the workspace's `prices.toml` (if any) overriding entries."""
    shipped = resources.files("lensforge.instruct").joinpath(PRICES_FILE)
    table, _ = _parse(shipped.read_text(encoding="utf-8"), f"lensforge/instruct/{PRICES_FILE}", partial=False)
    override_path: Path | None = ws.root / PRICES_FILE if ws is not None else None
    if override_path is None or not override_path.is_file():
        return table
    override, has_discount = _parse(override_path.read_text(encoding="utf-8"), str(override_path), partial=True)
    merged = {p: dict(models) for p, models in table.providers.items()}
    for provider, models in override.providers.items():
        merged.setdefault(provider, {}).update(models)
    discount = override.batch_discount if has_discount else table.batch_discount
    return PriceTable(batch_discount=discount, providers=merged)


def record_call(
    ws: Workspace,
    response: LLMResponse,
    *,
    dataset_id: str | None,
    purpose: str,
    batch_id: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    prices: PriceTable | None = None,
) -> str:
    """Add one sent request to the ledger and return its call id; an unpriced model costs 0, not an error.

    Pass `con` to write inside a caller's transaction (a batch collection records all its rows at once).
    """
    table = prices or load_prices(ws)
    cost, _priced = table.cost(response, batched=batch_id is not None)
    call_id = uuid.uuid4().hex
    row = [
        call_id,
        response.provider,
        response.model,
        dataset_id,
        purpose,
        response.request_hash,
        int(response.input_tokens),
        int(response.output_tokens),
        float(cost),
        batch_id,
    ]
    sql = (
        "INSERT INTO llm_calls (call_id, provider, model, dataset_id, purpose, request_hash, "
        "input_tokens, output_tokens, cost_usd, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    if con is not None:
        con.execute(sql, row)
    else:
        with transaction(ws) as tx:
            tx.execute(sql, row)
    return call_id


_SCHEMA = {
    "provider": pl.String,
    "model": pl.String,
    "dataset_id": pl.String,
    "calls": pl.Int64,
    "input_tokens": pl.Int64,
    "output_tokens": pl.Int64,
    "cost_usd": pl.Float64,
    "priced": pl.Boolean,
}


def call_totals(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How many provider calls were made and what they cost in all (for the app's overview)."""
    row = con.execute("SELECT count(*), coalesce(sum(cost_usd), 0) FROM llm_calls").fetchall()[0]
    return {"llm_calls": int(row[0]), "cost_usd": float(row[1])}


def cost_summary(ws: Workspace) -> pl.DataFrame:
    """Calls, tokens and cost by provider, model and dataset, then one TOTAL row.

    `priced` is False for models the current price table does not know (their cost was recorded as 0).
    """
    with connect(ws, read_only=True) as con:
        frame = query_frame(
            con,
            "SELECT provider, model, dataset_id, count(*) AS calls, sum(input_tokens) AS input_tokens, "
            "sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd FROM llm_calls "
            "GROUP BY provider, model, dataset_id ORDER BY provider, model, dataset_id NULLS LAST",
        )
    table = load_prices(ws)
    priced = [table.lookup(p, m) is not None for p, m in zip(frame["provider"], frame["model"], strict=True)]
    groups = frame.with_columns(pl.Series("priced", priced, dtype=pl.Boolean)).cast(_SCHEMA)  # type: ignore[arg-type]
    total = pl.DataFrame(
        {
            "provider": [TOTAL],
            "model": [None],
            "dataset_id": [None],
            "calls": [int(groups["calls"].sum() or 0)],
            "input_tokens": [int(groups["input_tokens"].sum() or 0)],
            "output_tokens": [int(groups["output_tokens"].sum() or 0)],
            "cost_usd": [float(groups["cost_usd"].sum() or 0.0)],
            "priced": [bool(groups["priced"].all()) if groups.height else True],
        },
        schema=_SCHEMA,
    )
    return pl.concat([groups.select(list(_SCHEMA)), total])


def unpriced_models(ws: Workspace) -> list[str]:
    """`provider/model` for every ledgered model without a price (their calls are recorded at cost 0)."""
    summary = cost_summary(ws).filter((pl.col("provider") != TOTAL) & ~pl.col("priced"))
    return sorted({f"{p}/{m}" for p, m in zip(summary["provider"], summary["model"], strict=True)})
