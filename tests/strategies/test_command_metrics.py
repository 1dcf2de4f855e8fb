"""``manage.py strategies metrics RETURNS.csv --periods N [--json]``: exact output, and a clear CommandError for each
fault of the file or the options."""

from __future__ import annotations

import json
import math
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strategies.core.metrics import performance_metrics

HAND_VECTOR = "date,ret\n2024-01-01,0.02\n2024-01-02,-0.01\n2024-01-03,0.03\n2024-01-04,-0.02\n"


def _csv(tmp_path: Path, text: str, name: str = "returns.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _run(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("strategies", *args, stdout=out, **options)
    return out.getvalue()


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_report_of_the_hand_vector(tmp_path: Path) -> None:
    # given four daily returns, annualised as one year (the values: tests/strategies/core/test_metrics.py)
    path = _csv(tmp_path, HAND_VECTOR)

    report = _strict_json(_run("metrics", path, "--periods", "4", "--json"))

    assert list(report) == ["metrics", "periods", "observations", "start", "end"]
    assert (report["periods"], report["observations"], report["start"], report["end"]) == (
        4,
        4,
        "2024-01-01",
        "2024-01-04",
    )
    metrics = report["metrics"]
    assert list(metrics) == [
        "sharpe",
        "sortino",
        "annual_volatility",
        "max_drawdown",
        "cagr",
        "calmar",
        "total_return",
        "omega",
        "tail_ratio",
        "var_5",
        "stability",
    ]
    assert metrics == performance_metrics([0.02, -0.01, 0.03, -0.02], periods=4).metrics_json()
    assert metrics["omega"] == 5 / 3
    assert metrics["var_5"] == -0.0185
    assert metrics["sortino"] == pytest.approx(2 / math.sqrt(5), rel=1e-15)
    assert metrics["total_return"] == pytest.approx(0.01929212, rel=1e-14)
    assert metrics["calmar"] == pytest.approx(0.964606, rel=1e-14)


def test_table(tmp_path: Path) -> None:
    path = _csv(tmp_path, HAND_VECTOR)

    out = _run("metrics", path, "--periods", "4")

    assert out == (
        f"{path}: 4 returns from 2024-01-01 to 2024-01-04, 4 periods a year\n"
        "  sharpe             0.420084\n"
        "  sortino            0.894427\n"
        "  annual_volatility  0.0476095  (4.76 %)\n"
        "  max_drawdown       -0.02  (-2.00 %)\n"
        "  cagr               0.0192921  (1.93 %)\n"
        "  calmar             0.964606\n"
        "  total_return       0.0192921  (1.93 %)\n"
        "  omega              1.66667\n"
        "  tail_ratio         1.54054\n"
        "  var_5              -0.0185  (-1.85 %)\n"
        "  stability          0.0815493\n"
    )


def test_table_shows_infinite_and_undefined(tmp_path: Path) -> None:
    path = _csv(tmp_path, "date,ret\n2024-01-01,0.001\n2024-01-02,0.001\n2024-01-03,0.001\n")

    lines = _run("metrics", path, "--periods", "365").splitlines()

    assert lines[1] == "  sharpe             inf"
    assert lines[6] == "  calmar             undefined"


def test_infinite_and_undefined_are_null_in_json(tmp_path: Path) -> None:
    # equal gains: Sharpe and Sortino are infinite; no drawdown and no loss: Calmar and omega undefined
    path = _csv(tmp_path, "date,ret\n2024-01-01,0.001\n2024-01-02,0.001\n2024-01-03,0.001\n")

    metrics = _strict_json(_run("metrics", path, "--periods", "365", "--json"))["metrics"]

    assert (metrics["sharpe"], metrics["sortino"], metrics["calmar"], metrics["omega"]) == (None, None, None, None)
    assert metrics["annual_volatility"] == 0.0
    assert metrics["max_drawdown"] == 0.0
    assert metrics["total_return"] == pytest.approx(1.001**3 - 1, rel=1e-14)


def test_options_as_keywords(tmp_path: Path) -> None:
    path = _csv(tmp_path, HAND_VECTOR)
    assert _run("metrics", path, periods="4", json=True) == _run("metrics", path, "--periods", "4", "--json")


def test_hourly_iso_datetimes_other_columns_and_a_fractional_year(tmp_path: Path) -> None:
    text = (
        "\ufeffnav, ret ,date\r\n"  # a byte-order mark, CRLF, spaces around names, columns in any order
        "100,0.01,2024-03-01T00:00:00Z\r\n"
        "101,-0.005,2024-03-01T01:00:00Z\r\n"
        "\r\n"
        "100.5,1E-3,2024-03-01T02:00:00+00:00\r\n"
    )
    path = _csv(tmp_path, text)

    report = _strict_json(_run("metrics", path, "--periods", "8766", "--json"))

    assert (report["periods"], report["observations"]) == (8766, 3)
    assert (report["start"], report["end"]) == ("2024-03-01T00:00:00Z", "2024-03-01T02:00:00+00:00")
    assert report["metrics"] == performance_metrics([0.01, -0.005, 0.001], periods=8766).metrics_json()
    fractional = _strict_json(_run("metrics", path, "--periods", "365.25", "--json"))
    assert fractional["periods"] == 365.25
    assert fractional["metrics"] == performance_metrics([0.01, -0.005, 0.001], periods=365.25).metrics_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: a header line with the columns date,ret comes first"),
        ("date,ret\n", "no returns: the file has a header and no rows"),
        ("date,ret\n\n\n", "no returns: the file has a header and no rows"),
        ("date,return\n2024-01-01,0.01\n", "line 1: no column 'ret' in the header 'date,return'"),
        ("time,ret\n2024-01-01,0.01\n", "line 1: no column 'date' in the header 'time,ret'"),
        ("2024-01-01,0.01\n2024-01-02,0.02\n", "line 1: no column 'date' in the header '2024-01-01,0.01'"),
        ("date,ret\n2024-01-01,0.01\n2024-01-02,abc\n", "line 3: ret 'abc' is not a decimal number"),
        ("date,ret\n2024-01-01,\n", "line 2: ret '' is not a decimal number"),
        ("date,ret\n2024-01-01,0.5%\n", "line 2: ret '0.5%' is not a decimal number"),
        ("date,ret\n2024-01-01,NaN\n", "line 2: ret 'NaN' is not a finite number"),
        ("date,ret\n2024-01-01,-Infinity\n", "line 2: ret '-Infinity' is not a finite number"),
        ("date,ret\n2024-01-01,1e999\n", "line 2: ret '1e999' is not a finite number"),
        (
            "date,ret\n2024-13-01,0.01\n",
            "line 2: date: not a date or ISO datetime: '2024-13-01' (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)",
        ),
        ("date,ret\n2024-01-01\n", "line 2: 1 fields, the header has 2"),
        (
            "date,ret\n2024-01-02,0.01\n2024-01-01,0.02\n",
            "line 3: date 2024-01-01 comes before line 2's 2024-01-02 (dates must increase, once each)",
        ),
        (
            "date,ret\n2024-01-01,0.01\n\n2024-01-01T00:00:00Z,0.02\n",
            "line 4: date 2024-01-01T00:00:00Z repeats line 2's 2024-01-01 (dates must increase, once each)",
        ),
    ],
)
def test_bad_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(CommandError) as error:
        _run("metrics", path, "--periods", "365")
    assert str(error.value) == f"{path}: {message}"


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.csv")
    with pytest.raises(CommandError, match=r"absent\.csv: no such file$"):
        _run("metrics", path, "--periods", "365")


def test_directory_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="a directory, not a CSV file"):
        _run("metrics", str(tmp_path), "--periods", "365")
    path = tmp_path / "returns.csv"
    path.write_bytes(b"date,ret\n\xff\xfe,0.1\n")
    with pytest.raises(CommandError, match="not UTF-8 text"):
        _run("metrics", str(path), "--periods", "365")


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        ("0", "--periods: must be a positive number of return periods a year, not 0"),
        ("-365", "--periods: must be a positive number of return periods a year, not -365"),
        ("inf", "--periods: must be a positive number of return periods a year, not inf"),
        ("nan", "--periods: must be a positive number of return periods a year, not nan"),
        ("daily", "--periods: 'daily' is not a number (365 daily, 8760 hourly)"),
    ],
)
def test_bad_periods(tmp_path: Path, periods: str, message: str) -> None:
    path = _csv(tmp_path, HAND_VECTOR)
    with pytest.raises(CommandError) as error:
        _run("metrics", path, "--periods", periods)
    assert str(error.value) == message


def test_periods_is_required(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="the following arguments are required: --periods"):
        _run("metrics", _csv(tmp_path, HAND_VECTOR))


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match="the following arguments are required: subcommand"):
        _run()
