"""medclaim — settle urban-rural resident medical-insurance claims through basic insurance, 大病 and medical assistance."""

import os as _os

# polars allocates through jemalloc, which polars sets to hand memory unused for half a second
# back to the system.  A settlement frees and takes back chunk-sized buffers all the time, and
# faulting those pages in again cost a tenth of a run's CPU time (4M claims: 27.3 → 24.6 s, the
# system time 5.7 → 2.8 s; peak memory 964 → 1,082 MiB).  Keeping them ten seconds (jemalloc's
# own default) avoids that.  polars appends this variable to its own setting when it is first
# imported (so it must be set before); a value the user set is left alone.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:10000")

__version__ = "0.1.0"
