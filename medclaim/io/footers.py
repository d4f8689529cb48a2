"""Footer rows: the 合计 / 总计 / 小计 line at the bottom of every real export, and its kin.

They are not claims and not damaged claims: they are skipped and reported (``ReadResult.footers``),
so that rows read = settled + rejected + footer rows.  A row is a footer when its person and
settlement ids are empty (or hold the footer word) and

* a cell starts with 合计 / 总计 / 小计 / 共计 (本页合计, 总计：…) — a totals or subtotal line; or
* its amounts are the column sums of the other rows (a totals line without a label); or
* it comes after the last claim and starts with 制表 / 打印 / 审核 / 经办 / 负责人 — the sign-off line.

Only the few rows with an empty id are looked at closely, so this costs nothing on a large file.
"""

from __future__ import annotations

import polars as pl

from medclaim.io.headers import HeaderMap

_TOTAL_PREFIXES = ("本页", "本月", "本表", "全部", "总")
_TOTAL_NAMES = ("合计", "总计", "小计", "共计")
_TOTAL_WORDS = rf"^(?:{'|'.join(_TOTAL_PREFIXES)})?(?:{'|'.join(_TOTAL_NAMES)})"
_SIGN_OFF_WORDS = r"^(?:制表|打印|审核|经办|负责人|填报|复核)"
_EXCERPT_CHARS = 120

FOOTER_SCHEMA = {"source_file": pl.String(), "source_row": pl.Int64(), "kind": pl.String(), "text": pl.String()}


def _spaced(word: str) -> str:
    """``word`` with any white space between and after its characters."""
    return "".join(ch + r"\s*" for ch in word)


#: A cell that is blank, or whose text without white space starts with a footer word: the same
#: as removing the white space and matching ``_TOTAL_WORDS`` (or nothing), without building that
#: text for every row of the file (an anchored match fails at the first character of an id).
_BLANK_OR_TOTAL = r"^\s*(?:(?:{})?(?:{})|$)".format("|".join(map(_spaced, _TOTAL_PREFIXES)), "|".join(map(_spaced, _TOTAL_NAMES)))


def _id_blank_or_word(column: str) -> pl.Expr:
    return pl.col(column).str.contains(_BLANK_OR_TOTAL).fill_null(True)


def is_candidate() -> pl.Expr:
    """Whether a row's settlement id and person id are empty or a footer word (canonical ids):
    only such rows may be footers, and they are judged once the whole file is read."""
    return _id_blank_or_word("setl_id") & _id_blank_or_word("psn_no")


_MAX_LOOKED_AT = 10_000  # more rows with empty ids than this is a damaged file, not footers


def find_footers(
    maybe: pl.DataFrame, other_sums: dict[str, int], other_last: int, headers: HeaderMap, row_texts,
    amount_fields: tuple[str, ...], source: str,
) -> pl.DataFrame:
    """The footer rows among ``maybe`` (the file's ``candidates``: parsed rows with ``_row``, canonical
    ids and amounts).  The file is read in batches, so what the judgement needs of the other rows
    comes summed: ``other_sums`` (each amount column's sum, blanks as 0) and ``other_last`` (the
    last of their ``_row``)."""
    if maybe.height == 0 or row_texts is None:
        return pl.DataFrame(schema=FOOTER_SCHEMA)
    present = [f for f in amount_fields if f in headers.columns]
    if maybe.height > _MAX_LOOKED_AT:  # the ids' own footer words, and the bottom of the file
        looked = pl.concat([maybe.filter(pl.col("setl_id").str.contains(_TOTAL_WORDS)), maybe.tail(100)]).unique("_row")
        rest = maybe.filter(~pl.col("_row").is_in(looked["_row"].implode()))
        other_sums = {f: other_sums.get(f, 0) + (rest[f].fill_null(0).sum() or 0) for f in present}
        other_last = max(other_last, rest["_row"].max() or 0)
        maybe = looked
    texts = row_texts(maybe["_row"].to_list())
    last_claim = other_last
    cells = pl.DataFrame(
        {"_row": list(texts), "_cells": list(texts.values())}, schema={"_row": pl.Int64, "_cells": pl.List(pl.String)}
    ).with_columns(
        pl.col("_cells").list.eval(pl.element().str.normalize("NFKC").str.replace_all(r"\s", "")).alias("_squeezed"),
        pl.col("_cells").list.eval(pl.element().filter(pl.element().str.strip_chars() != "")).list.join(" ")
        .str.slice(0, _EXCERPT_CHARS).alias("text"),
    )
    labelled = pl.col("_squeezed").list.eval(pl.element().str.contains(_TOTAL_WORDS)).list.any()
    signed = pl.col("_squeezed").list.eval(pl.element().str.contains(_SIGN_OFF_WORDS)).list.any()
    if present:
        is_sums = (pl.col(present[0]).fill_null(0) != 0) & pl.all_horizontal(
            [pl.col(f).is_null() | (pl.col(f) == other_sums.get(f, 0)) for f in present]
        )
    else:
        is_sums = pl.lit(False)
    kind = (
        pl.when(labelled).then(pl.lit("totals"))
        .when(is_sums).then(pl.lit("column sums"))
        .when(signed & (pl.col("_row") > last_claim)).then(pl.lit("sign-off"))
    )  # fmt: skip
    judged = maybe.select("_row", *present).join(cells, on="_row", how="left").with_columns(kind.alias("kind"))
    return judged.filter(pl.col("kind").is_not_null()).select(
        pl.lit(source).alias("source_file"), pl.col("_row").alias("source_row"), "kind", pl.col("text").fill_null("")
    ).sort("source_row")


def footer_lines(bad_lines: pl.DataFrame, last_claim: int | None, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ragged CSV lines that are footers all the same ("合计,1200.00" or "制表人：王五" with fewer
    fields than the header): (footers, the remaining bad lines)."""
    if bad_lines.height == 0:
        return pl.DataFrame(schema=FOOTER_SCHEMA), bad_lines
    text = pl.col("_raw").str.normalize("NFKC").str.replace_all(r"[\s,;|\t\"]", "")
    kind = (
        pl.when(text.str.contains(_TOTAL_WORDS)).then(pl.lit("totals"))
        .when(text.str.contains(_SIGN_OFF_WORDS) & (pl.col("_row") > (last_claim or 0))).then(pl.lit("sign-off"))
    )  # fmt: skip
    judged = bad_lines.with_columns(kind.alias("kind"))
    footers = judged.filter(pl.col("kind").is_not_null()).select(
        pl.lit(source).alias("source_file"),
        pl.col("_row").alias("source_row"),
        "kind",
        pl.col("_raw").str.replace_all(r"[,;|\t]+", " ").str.strip_chars().str.slice(0, _EXCERPT_CHARS).alias("text"),
    )
    return footers, judged.filter(pl.col("kind").is_null()).drop("kind")
