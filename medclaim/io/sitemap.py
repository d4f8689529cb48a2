"""A site's own header wordings: ``--columns FILE``, a small YAML mapping "my header: field".

    # columns.yaml — 东至县人民医院 HIS export
    columns:
      费用合计: medfee_sumamt      # a field by its national code…
      患者编号: 人员编号            # …or by any header medclaim already knows for it
      备注: ~                      # never read this column

The ``columns:`` key may be left out (the whole file is then the mapping).  A site entry adds
to the built-in aliases and wins over them (the same header mapped elsewhere, or ``~``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from medclaim.io.errors import InputFileError
from medclaim.io.headers import CLAIMS, Vocabulary, normalise_header
from medclaim.io.sources import check_regular_file

MAX_MAPPING_BYTES = 256 * 1024  # a mapping is a few dozen lines; anything bigger is not one


def load_column_map(path: Path | str, vocabulary: Vocabulary = CLAIMS) -> Vocabulary:
    """The vocabulary extended by the mapping file; every problem is an InputFileError naming
    the file and the entry."""
    name = str(path)
    path = Path(path)
    check_regular_file(path, name, max_bytes=MAX_MAPPING_BYTES, what="column mapping file")
    try:
        data = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputFileError(name, f"not valid YAML{where}; write one 'header: field' per line") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(name, f"cannot read the column mapping ({exc}); save it as UTF-8 text") from exc
    if isinstance(data, dict) and set(data) == {"columns"}:
        data = data["columns"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputFileError(name, "a column mapping is a list of 'header: field' lines (optionally under 'columns:')")
    fields = ", ".join(vocabulary.aliases)
    site: dict[str, str | None] = {}
    for header, target in data.items():
        if not isinstance(header, (str, int)) or not str(header).strip():
            raise InputFileError(name, f"entry {header!r}: the header must be text; quote it if needed")
        if target is None:
            site[normalise_header(header)] = None
            continue
        if not isinstance(target, str):
            raise InputFileError(name, f"entry '{header}': the field must be a name such as medfee_sumamt, not {type(target).__name__}")
        field = vocabulary.field_of(target)
        if field is None:
            raise InputFileError(
                name, f"entry '{header}: {target}': '{target}' is not a field medclaim knows; use one of {fields} (or ~ to leave the column unread)"
            )
        site[normalise_header(header)] = field
    return vocabulary.with_site(site, name)
