"""Files a person writes by hand (settings, credentials, a secret file): read as the editor that
wrote them saved them. A byte-order mark says the encoding: UTF-16 (what Windows PowerShell 5's
``>`` and ``Out-File`` write by default) or UTF-8 (Notepad, ``-Encoding UTF8``); without one,
UTF-8. Anything else is refused with a message naming the encoding to save in, never an
unexpected error."""

from __future__ import annotations

import codecs
from pathlib import Path

from fsm_risk.errors import FsmRiskError

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class NotText(FsmRiskError):
    """A hand-written file is not text in an encoding read here. Never quotes the content."""


def read(path: str | Path) -> str:
    """The text of ``path``, its byte-order mark left out. Raises `OSError` when it cannot be
    read and `NotText` when it is not UTF-8 or UTF-16 with a BOM."""
    data = Path(path).read_bytes()
    utf16 = data.startswith(_UTF16_BOMS)
    try:
        return data.decode("utf-16") if utf16 else data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(
            f"{path}: not readable as {'UTF-16' if utf16 else 'UTF-8'} (byte {exc.start}): "
            "save it as UTF-8 (in PowerShell: -Encoding UTF8)"
        ) from None
