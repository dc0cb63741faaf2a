"""One owner module per catalog table: all SQL naming a table lives in its owner, everyone else calls it.

The walk reads every string constant of the package (f-string parts included, docstrings skipped) and looks for
an upper-case SQL keyword (FROM, JOIN, INTO, UPDATE, TABLE) followed by a table name. Migrations (.sql files) and
the generic helpers of `catalog/db.py` are exempt. A new table needs a line in OWNERS (the test below fails
until it has one).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lensforge"
MIGRATIONS = PACKAGE / "catalog" / "migrations"
EXEMPT = {"catalog/db.py"}

# table -> the module (relative to lensforge/) that holds every SQL statement naming it.
OWNERS = {
    "datasets": "catalog/datasets.py",
    "label_spaces": "catalog/datasets.py",
    "events": "catalog/events.py",
    "ingested_versions": "ingest/versions.py",
    "validation_results": "ingest/versions.py",
    "invalid_overrides": "ingest/versions.py",
    "quality_reports": "ingest/versions.py",
    "ingest_step_stats": "ingest/versions.py",
    "label_mappings": "curate/mappings.py",
    "mapping_versions": "curate/mappings.py",
    "canonical_additions": "curate/mappings.py",
    "row_decisions": "curate/decisions.py",
    "decision_sets": "curate/decisions.py",
    "label_issue_scans": "curate/label_issues.py",
    "instructions": "instruct/store.py",
    "instruction_rejects": "instruct/store.py",
    "llm_calls": "instruct/ledger.py",
    "llm_batches": "instruct/batch.py",
    "snapshots": "release/store.py",
    "publications": "release/store.py",
    "runs": "finetune/runs.py",
    "run_metrics": "finetune/runs.py",
    "evals": "evaluate/store.py",
    "scores": "evaluate/store.py",
}

_SQL = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_][a-z0-9_]*)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the constants that are docstrings (prose may say "from snapshots" without being SQL)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_tables(source: str) -> list[tuple[int, str]]:
    """(line, table) for every catalog table an SQL string of this source names."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            out += [(node.lineno, m.group(1)) for m in _SQL.finditer(node.value) if m.group(1) in OWNERS]
    return sorted(out)


def test_sql_naming_a_table_lives_in_its_owner():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in EXEMPT:
            continue
        for line, table in sql_tables(path.read_text(encoding="utf-8")):
            if OWNERS[table] != rel:
                bad.append(f"lensforge/{rel}:{line}: SQL on `{table}` belongs in lensforge/{OWNERS[table]}")
    assert not bad, "\n".join(bad)


def test_every_table_has_an_existing_owner():
    created = set()
    for sql in MIGRATIONS.glob("*.sql"):
        created |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)", sql.read_text(encoding="utf-8")))
    assert created == set(OWNERS), f"tables without an owner: {created - set(OWNERS)}; gone: {set(OWNERS) - created}"
    for owner in set(OWNERS.values()):
        assert (PACKAGE / owner).is_file(), owner


def test_the_walk_finds_sql_in_strings_and_fstrings_but_not_prose():
    source = '''
"""Rows from snapshots and the runs FROM evals are prose here."""
def f(con, cols):
    """Reads FROM runs."""
    con.execute("SELECT * FROM snapshots s "
                "JOIN publications p USING (snapshot_id)")
    con.execute(f"UPDATE runs SET {cols} WHERE run_id = ?")
    con.execute("INSERT INTO  scores VALUES (?)")
    return "from datasets, into runs"  # lower case: words, not SQL
'''
    assert sql_tables(source) == [(5, "publications"), (5, "snapshots"), (7, "runs"), (8, "scores")]
