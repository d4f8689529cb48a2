"""The SparkSession medclaim runs on: the caller's, the one ``spark-submit`` set up, or a local one.

A local session never fetches anything (no ``spark.jars.packages``, no Ivy/Maven resolution): it
runs on the JVM and jars shipped inside the pyspark wheel, binds to 127.0.0.1, has no web UI and
uses the current Python interpreter for its workers.
"""

from __future__ import annotations

import os
import re
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


#: The environment variable that gives ``--spark-memory`` (a cron line's or a site profile's setting).
MEMORY_ENV = "MEDCLAIM_SPARK_MEMORY"
#: A JVM heap size as ``java -Xmx`` takes it, which is how Spark's launcher passes ``spark.driver.memory``.
_HEAP = re.compile(r"([1-9][0-9]{0,9})([kmgt])", re.IGNORECASE)
_UNIT = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: Below this Spark refuses to start ("System memory … must be at least 471859200").
MIN_DRIVER_MEMORY = 512 << 20


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        return None


def driver_memory(value: str) -> str:
    """``value`` checked as the local driver's JVM heap (``spark.driver.memory``): a whole number
    and a unit k, m, g or t (``4g``, ``512m``), at least 512m and at most this machine's memory.
    Raises ``ValueError`` saying what to write."""
    text = value.strip()
    m = _HEAP.fullmatch(text)
    if m is None:
        raise ValueError(f"{value!r} is not a heap size — write a whole number and a unit, k, m, g or t, such as 4g or 512m")
    size = int(m[1]) * _UNIT[m[2].lower()]
    if size < MIN_DRIVER_MEMORY:
        raise ValueError(f"{value!r} is too small: Spark's driver needs at least 512m")
    ram = physical_memory()
    if ram is not None and size > ram:
        raise ValueError(f"{value!r} is more than this machine's memory ({ram / (1 << 30):.1f} GiB) — give at most that, "
                         "leaving room for the Python workers")
    return text.lower()


#: The JVM's logging configuration of a local session (errors only).
LOGGING = Path(__file__).resolve().with_name("log4j2.properties")


def local_session(cores: int = 2, shuffle_partitions: int = 4, driver_memory: str | None = None) -> "SparkSession":
    """A local-mode SparkSession (``local[cores]``) configured for offline use (see module doc).

    ``driver_memory`` (``4g``) is the driver JVM's heap (Spark's default is 1g), which only takes
    effect when the JVM starts: if this process already runs one (an earlier session, stopped), it
    is not set, and ``memory_not_applied`` says so."""
    require_pyspark()
    # workers must run this interpreter (it has medclaim, polars, pyarrow); set before the JVM starts
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{cores}]").appName("medclaim")
    conf = dict(LOCAL_CONF)
    conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    if driver_memory and SparkContext._gateway is None:  # the JVM starts with this session: -Xmx is still ours to give
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


def session(cores: int = 2, shuffle_partitions: int = 4, driver_memory: str | None = None) -> "SparkSession":
    """The active session (a caller's, or the one ``spark-submit`` created: its master and settings
    are kept, ``driver_memory`` is not applied to it), else a local one with ``driver_memory``."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        # started by spark-submit: the JVM already holds --master and --conf; take them as given
        return SparkSession.builder.appName("medclaim").getOrCreate()
    return local_session(cores, shuffle_partitions, driver_memory)


def memory_not_applied(spark: "SparkSession", driver_memory: str | None) -> list[str]:
    """A warning when the driver heap asked for is not the one ``spark`` runs with: a session that
    was already there (a caller's, spark-submit's, or a JVM this process had started) keeps its own."""
    if not driver_memory:
        return []
    actual = spark.sparkContext.getConf().get("spark.driver.memory", None)
    if actual is not None and actual.strip().lower() == driver_memory:
        return []
    actual = actual or "Spark's default, 1g"
    return [f"--spark-memory {driver_memory} was not applied: this run uses a Spark session whose driver JVM was already "
            f"running (master {spark.sparkContext.master}, driver memory {actual}); under spark-submit give it "
            "--driver-memory instead"]
