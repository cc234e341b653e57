"""One-line user errors: the message reaches the terminal verbatim, whatever characters it holds."""

from __future__ import annotations

import pytest

from lupustrial.clikit import user_errors
from lupustrial.errors import LupustrialError


def test_error_text_with_square_brackets_is_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    # rich would read "[dask]" as markup and drop it; the advice must survive intact.
    @user_errors
    def command() -> None:
        raise LupustrialError("needs dask.distributed: pip install '.[dask]' [bold]")

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "pip install '.[dask]' [bold]" in err and err.startswith("error:")
