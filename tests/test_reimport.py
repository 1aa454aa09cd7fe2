"""Loading observations that already exist: the loader finds a chunk's stored rows by their
identity index, with a plan that does not grow with the chunk.

PostgreSQL planned the lookup of a chunk's 2,000 identities, written as a tuple IN list, as
2,000 index scans under one BitmapOr, for 1.6 s per chunk: re-importing 50,000 unchanged
observations took longer than creating them.
"""

import json
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session

from app.importer import load_bundle
from app.schemas import Bundle
from bench.data import bundle_parts

OBSERVATIONS = 300
# How each database names the search of the unique index of an observation's identity.
IDENTITY_INDEX = "indicator_id=? AND period=? AND kind=? AND article_id=?"


def plan(connection: Connection, statement: str, parameters: Any) -> list[str]:
    """Each node of the plan of ``statement``, with the index it reads, if any."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [row.detail for row in rows]  # "SEARCH observations USING INDEX ... (...)"
    (document,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
    if isinstance(document, str):
        document = json.loads(document)
    nodes: list[str] = []
    pending = [document[0]["Plan"]]
    while pending:
        node = pending.pop()
        index = (
            f" ({IDENTITY_INDEX})" if node.get("Index Name") == "uq_observations_identity" else ""
        )
        nodes.append(f"{node['Node Type']}{index}")
        pending.extend(node.get("Plans", []))
    return nodes


def test_reimport_finds_stored_observations_by_identity_index(session: Session) -> None:
    head, rows = bundle_parts(5, OBSERVATIONS)
    bundle = Bundle.model_validate({**head, "observations": list(rows)})
    load_bundle(session, bundle)
    if session.get_bind().dialect.name == "postgresql":
        # What a large load leaves behind (importer.ANALYZE_AFTER): the planner knows the
        # table, as it does in a database of any size.
        session.execute(text("ANALYZE observations"))
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith(("SELECT", "WITH")) and "quote_start" in statement:
            sent.append((statement, parameters))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        result = load_bundle(session, bundle)
    finally:
        event.remove(connection, "before_cursor_execute", record)

    assert result.observations.unchanged == OBSERVATIONS
    assert len(sent) == 1, "one lookup for the chunk"
    nodes = plan(connection, *sent[0])
    assert any(IDENTITY_INDEX in node for node in nodes), nodes
    # A node per identity (PostgreSQL's BitmapOr of index scans) is what took the time.
    assert len(nodes) < 10, nodes
