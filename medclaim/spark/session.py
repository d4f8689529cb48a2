"""The SparkSession medclaim runs on: the caller's, the one ``spark-submit`` set up, or a local one.

A local session never fetches anything (no ``spark.jars.packages``, no Ivy/Maven resolution): it
runs on the JVM and jars shipped inside the pyspark wheel, binds to 127.0.0.1, has no web UI and
uses the current Python interpreter for its workers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


class SparkUnavailable(RuntimeError):
    """pyspark (or a Java runtime for it) is not installed."""


INSTALL_HINT = "install the spark extra: pip install 'medclaim[spark]' (and a Java 17+ runtime)"


def require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
        import pandas  # noqa: F401  (pyspark's Arrow UDFs import it)
    except ImportError as e:
        raise SparkUnavailable(f"--engine spark needs pyspark: {e.name} is not installed — {INSTALL_HINT}") from None


#: Settings of a local session: everything on this machine, nothing fetched, nothing listening outside.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.session.timeZone": "UTC",  # dates stay dates whatever the machine's zone
    "spark.python.worker.reuse": "true",
}


#: The JVM's logging configuration of a local session (errors only).
LOGGING = Path(__file__).resolve().with_name("log4j2.properties")


def local_session(cores: int = 2, shuffle_partitions: int = 4, driver_memory: str | None = None) -> "SparkSession":
    """A local-mode SparkSession (``local[cores]``) configured for offline use (see module doc)."""
    require_pyspark()
    # workers must run this interpreter (it has medclaim, polars, pyarrow); set before the JVM starts
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{cores}]").appName("medclaim")
    conf = dict(LOCAL_CONF)
    conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    if driver_memory:
        conf["spark.driver.memory"] = driver_memory
    # errors only from the JVM's first line on (the level set below once it runs): no start-up chatter
    conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={LOGGING.as_uri()}"
    for k, v in conf.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: no Java, or a broken one
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise SparkUnavailable(f"Spark could not start its JVM ({first}) — {INSTALL_HINT}; check `java -version`") from e
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def session(cores: int = 2, shuffle_partitions: int = 4) -> "SparkSession":
    """The active session (a caller's, or the one ``spark-submit`` created: its master and settings
    are kept), else a local one."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        # started by spark-submit: the JVM already holds --master and --conf; take them as given
        return SparkSession.builder.appName("medclaim").getOrCreate()
    return local_session(cores, shuffle_partitions)
