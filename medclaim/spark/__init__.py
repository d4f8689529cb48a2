"""Settling on Spark, for pools too large for one machine: the same polars engine per partition of persons.

* ``settle_dataframe`` — a Spark DataFrame of claims in, Spark DataFrames (ledger, rejects,
  closing balances) out, for a bureau's own PySpark jobs;
* ``append_claims_spark`` / ``settle_into_ledger_spark`` — a run of a persistent ledger
  (``medclaim settle --engine spark --ledger DIR``): executors write the run's part files, the
  driver commits them with the store's lock, commit protocol and manifest.

pyspark is an optional extra (``pip install 'medclaim[spark]'``); see docs/spark.md.
"""

from .session import SparkUnavailable, local_session, require_pyspark, session

__all__ = ["SparkUnavailable", "local_session", "require_pyspark", "session", "settle_dataframe", "append_claims_spark",
           "settle_into_ledger_spark"]


def __getattr__(name: str):
    # the modules below import pyspark lazily too, but keep `import medclaim.spark` light
    if name == "settle_dataframe":
        from .dataframe import settle_dataframe

        return settle_dataframe
    if name in ("append_claims_spark", "settle_into_ledger_spark"):
        from . import ledger

        return getattr(ledger, name)
    raise AttributeError(name)
