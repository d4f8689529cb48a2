"""Shared checks for the input-layer tests."""

from __future__ import annotations

import polars as pl

from medclaim.schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA


def assert_claim_schema(claims: pl.DataFrame) -> None:
    """Exactly CLAIM_SCHEMA, plus only descriptive columns (those the files had)."""
    schema = dict(claims.schema)
    assert {c: t for c, t in schema.items() if c in CLAIM_SCHEMA} == CLAIM_SCHEMA
    assert set(schema) - set(CLAIM_SCHEMA) <= set(DESCRIPTIVE_SCHEMA), set(schema) - set(CLAIM_SCHEMA)
    assert all(schema[c] == t for c, t in DESCRIPTIVE_SCHEMA.items() if c in schema)
