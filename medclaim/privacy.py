"""Masking personal data (person numbers, ID-card numbers, names) for screens, logs and rejects.

One helper for every place that shows a person to someone who may not be entitled to see them:
``explain`` and ``settle`` on a terminal and in logs, and the raw cells ``rejects.csv`` quotes.
The ledger files keep everything whole; ``--show-ids`` turns masking off where it applies.

    mask_id("341721198001010093")  → "3417**********0093"
    mask_name("黄小明")             → "黄**"
"""

from __future__ import annotations

from typing import Callable

import polars as pl

#: Canonical fields holding personal data that rejects.csv and screens mask (io maps headers to them).
PERSONAL_FIELDS = ("psn_name", "certno")
#: A mainland resident ID number: 6-digit area, birth date 19xx/20xx, 3-digit sequence, check digit.
#: Matched where digits do not continue on either side, so longer settlement ids are left alone.
ID_CARD_RE = (
    r"(^|[^0-9A-Za-z])(\d{4})\d{2}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(\d{3}[0-9Xx])([^0-9A-Za-z]|$)"
)


def mask_id(value: str | None) -> str:
    """Person and certificate numbers for terminals and logs: 3417**********0433.

    Ids of 10 characters or more keep their first 4 and last 4; shorter ids keep their last 2;
    ids of 1–2 characters are masked whole.
    """
    if value is None:
        return ""
    s = str(value)
    n = len(s)
    if n >= 10:
        return s[:4] + "*" * (n - 8) + s[-4:]
    if n > 2:
        return "*" * (n - 2) + s[-2:]
    return "*" * n


def mask_name(value: str | None) -> str:
    """A person's name keeps its first character (the family name): 黄* , 欧阳** → 欧**."""
    if value is None:
        return ""
    s = str(value)
    return s[:1] + "*" * (len(s) - 1) if len(s) > 1 else "*" * len(s)


def mask_id_expr(col: pl.Expr) -> pl.Expr:
    """``mask_id`` over a whole column (nulls stay null)."""
    s = col.cast(pl.String)
    n = s.str.len_chars()
    long = pl.concat_str([s.str.slice(0, 4), pl.lit("*").repeat_by(n - 8).list.join(""), s.str.slice(-4)])
    short = pl.concat_str([pl.lit("*").repeat_by(n - 2).list.join(""), s.str.slice(-2)])
    whole = pl.lit("*").repeat_by(n).list.join("")
    return pl.when(n >= 10).then(long).when(n > 2).then(short).otherwise(whole)


def mask_name_expr(col: pl.Expr) -> pl.Expr:
    """``mask_name`` over a whole column (nulls stay null)."""
    s = col.cast(pl.String)
    n = s.str.len_chars()
    return pl.when(n > 1).then(pl.concat_str([s.str.slice(0, 1), pl.lit("*").repeat_by(n - 1).list.join("")])).otherwise(
        pl.lit("*").repeat_by(n).list.join("")
    )


MASKERS = {"psn_name": mask_name_expr, "certno": mask_id_expr}


def mask_personal_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its personal columns (name, ID card) masked, for screens and logs."""
    return frame.with_columns([MASKERS[c](pl.col(c)).alias(c) for c in PERSONAL_FIELDS if c in frame.columns])


def mask_id_cards_in_text(col: pl.Expr) -> pl.Expr:
    """Every ID-card number inside free text (a raw line, a message) as 3417**********0093."""
    return col.str.replace_all(ID_CARD_RE, "${1}${2}**********${3}${4}")


def mask_raw_cells(raw: pl.Series, name_labels: set[str], id_labels: set[str],
                   normalise: Callable[[str], str] | None = None) -> pl.Series:
    """The ``raw`` excerpts of rejects ('结算ID=S1; 姓名=黄小明; 身份证号=3417…') with the cells of
    personal columns masked (a name as 黄*, an ID number as 3417**********0093), and any ID-card
    number elsewhere in the text (a whole bad line) masked too.

    ``name_labels`` / ``id_labels``: header texts that name the name / ID-card column in the files;
    ``normalise``: how headers are matched (the readers' own header key), applied to both sides.
    """
    if raw.len() == 0:
        return raw
    cells = (
        pl.DataFrame({"raw": raw.cast(pl.String)})
        .with_row_index("_i")
        .with_columns(pl.col("raw").str.split("; ").alias("_cell"))
        .explode("_cell", empty_as_null=True)
        .with_columns(
            pl.col("_cell").str.extract(r"^([^=]*)=", 1).alias("_label"),
            pl.col("_cell").str.replace(r"^[^=]*=", "").alias("_value"),
        )
    )
    if normalise is not None:
        name_labels, id_labels = {normalise(x) for x in name_labels}, {normalise(x) for x in id_labels}
        seen = cells["_label"].drop_nulls().unique().to_list()  # a handful of distinct headers
        cells = cells.with_columns(pl.col("_label").replace_strict({x: normalise(x) for x in seen}, default=None).alias("_key"))
    else:
        cells = cells.with_columns(pl.col("_label").alias("_key"))
    label, value, key = pl.col("_label"), pl.col("_value"), pl.col("_key")
    cell = (
        pl.when(key.is_in(list(name_labels))).then(pl.concat_str([label, pl.lit("="), mask_name_expr(value)]))
        .when(key.is_in(list(id_labels))).then(pl.concat_str([label, pl.lit("="), mask_id_expr(value)]))
        .otherwise(mask_id_cards_in_text(pl.col("_cell")))
    )
    out = cells.with_columns(cell.alias("_cell")).group_by("_i", maintain_order=True).agg(
        pl.col("_cell").str.join("; "), pl.col("raw").first().is_null().alias("_null")
    )
    return out.select(pl.when(pl.col("_null")).then(None).otherwise(pl.col("_cell")).alias(raw.name)).to_series()
