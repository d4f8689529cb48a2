"""A CSV file's text handed to pyarrow's streaming CSV reader as UTF-8 bytes, block by block
(``csv_stream``): UTF-8 passes through, checked; GB18030/GBK and other encodings are decoded
incrementally; a UTF-8 BOM is dropped.  While a survey reads it (``watch``), the facts the
whole-file read takes from the whole text are gathered on the way: line feeds, bare carriage
returns, invisible characters, whether an AUTO file is UTF-8 at all."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from medclaim.io.errors import InputFileError
from medclaim.io.source_csv import AUTO, INVISIBLE_UTF8, _is_utf8, block_end, decode_error

_RAW_BYTES = 1 << 20  # bytes of the file read (and decoded) at a time


@dataclass(frozen=True)
class TextPlan:
    encoding: str  # AUTO: UTF-8, known valid only once a survey has read it all
    hint: str | None  # advice when the text is not valid in it (None: the GB18030 guess of AUTO)
    bom: int = 0  # bytes of a UTF-8 BOM skipped (AUTO)

    @property
    def reported(self) -> str:
        if self.encoding == AUTO:
            return "utf-8-sig" if self.bom else "utf-8"
        return self.encoding


class Utf8Text:
    """The file's text as UTF-8 bytes (BOM removed) from byte ``skip`` of that text on, as a
    file-like object for ``pyarrow.csv.open_csv``.  UTF-8 files pass through (checked, when
    ``watch``); others are decoded incrementally.  A decoding failure ends the stream and is kept
    in ``error``; ``not_utf8`` says an AUTO file turned out not to be UTF-8.  While ``watch``, the
    facts the whole-file read takes from the whole text are gathered on the way."""

    closed = False

    def __init__(self, path: Path, name: str, plan: TextPlan, skip: int, chunk: int, *, watch: bool = False):
        self._file = open(path, "rb")  # noqa: SIM115 — closed by close()
        self._name, self._plan, self._chunk, self._watch = name, plan, chunk, watch
        self._size = path.stat().st_size
        self._consumed = 0  # raw bytes read
        self._ended = False
        self._out = bytearray()  # decoded, not yet handed out
        self.error: InputFileError | None = None
        self.not_utf8 = False
        self.lf = self.bare_cr = self.invisible = False
        self._pending_cr = False
        self._tail = b""
        if plan.encoding == AUTO:
            self._decoder = None
            self._carry = b""
            self._file.seek(plan.bom)
            self._consumed = plan.bom
        else:
            self._decoder = codecs.getincrementaldecoder(plan.encoding)()
            self._started = False
        self._skip = skip

    def readable(self) -> bool:
        return True

    @property
    def at_end(self) -> bool:
        """Everything has been read."""
        return self._ended and not self._out

    def close(self) -> None:
        self._file.close()
        self.closed = True

    def __enter__(self) -> Utf8Text:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next(self) -> bytes | None:
        """The next piece of UTF-8 text, or None at the end (or on an error)."""
        raw = self._file.read(min(self._chunk, _RAW_BYTES))
        self._consumed += len(raw)
        final = not raw
        if self._decoder is None:
            data = self._carry + raw if self._carry else raw
            cut = len(data) if final else utf8_cut(data)
            data, self._carry = data[:cut], data[cut:]
            if self._watch and data and not _is_utf8(data):
                self.not_utf8 = True
                return None
            return data if data or not final else None
        try:
            text = self._decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            start = self._consumed - len(exc.object) + exc.start
            self.error = decode_error(self._name, self._plan.encoding, start, self._size, self._plan.hint)
            return None
        if not self._started and text:
            self._started = True
            if self._plan.hint is not None:  # (the GB18030 guess keeps a leading U+FEFF, as the whole read does)
                text = text.removeprefix("\ufeff")
        data = text.encode("utf-8")
        return data if data or not final else None

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of text: a block for the parser, never ending between CR and LF."""
        while not self._ended and (size < 0 or len(self._out) <= size):  # (one byte more: see below)
            data = self._next()
            if data is None:
                self._ended = True
                self.bare_cr = self.bare_cr or self._pending_cr  # (a carriage return ends the file)
                break
            if self._skip:
                dropped = min(self._skip, len(data))
                data, self._skip = data[dropped:], self._skip - dropped
            if self._watch:
                self._gather(data)
            self._out += data
        if size < 0:
            size = len(self._out)
        size = block_end(self._out, size)
        with memoryview(self._out) as view:
            piece = bytes(view[:size])
        del self._out[:size]
        return piece

    def _gather(self, data: bytes) -> None:
        if not data:
            return
        self.lf = self.lf or b"\n" in data
        if self._pending_cr and not data.startswith(b"\n"):
            self.bare_cr = True
        self._pending_cr = data.endswith(b"\r")
        if not self.bare_cr and b"\r" in data:  # a CR not followed by LF (a last CR may meet its LF next)
            self.bare_cr = data.count(b"\r") - self._pending_cr != data.count(b"\r\n")
        if not self.invisible:
            edge = self._tail + data[:2]
            self.invisible = any(marker in data or marker in edge for marker in INVISIBLE_UTF8)
        self._tail = data[-2:]


def utf8_cut(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that does not end inside a UTF-8 sequence."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n if back >= need else n - back
    return n
