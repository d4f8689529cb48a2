"""Input layer: claim files (CSV/GBK CSV, Excel, Parquet) → canonical claims + rejects.

    result = read_claims(["a.csv", "b.parquet"])
    result.claims    # medclaim.schema.CLAIM_SCHEMA, valid rows only
    result.rejects   # medclaim.schema.empty_rejects() schema, one row per refused input row
    result.footers   # 合计 / 小计 rows set aside: neither claims nor rejects
    result.rows_read == result.claims.height + result.rejects.height + result.footers.height

Options (``ReadOptions``): encoding, header row, Excel sheet, a site column mapping, amount
columns assumed zero.
See ``sources`` for the source_row convention and ``headers`` for the accepted column names.
"""

from medclaim.io.errors import InputFileError
from medclaim.io.headers import HEADER_ALIASES, REQUIRED_FIELDS
from medclaim.io.reader import FileStats, ReadOptions, ReadResult, read_claims

__all__ = ["HEADER_ALIASES", "REQUIRED_FIELDS", "FileStats", "InputFileError", "ReadOptions", "ReadResult", "read_claims"]
