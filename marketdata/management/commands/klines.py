"""``manage.py klines <subcommand>``: download candles and perpetuals' funding rates from the venues; export, gaps and
import of stored candles.

Times on the command line are dates (``2019-10-11``) or ISO datetimes, read as UTC when they carry no offset;
``--end`` is exclusive. Subcommands live in :data:`SUBCOMMANDS`, a name → :class:`Subcommand` table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from hftplatform.core.decimal_text import decimal_scale, decimal_step
from hftplatform.core.utc import utc_from_ms, utc_ms_parse
from marketdata import selectors, services
from marketdata.core.aggregate import resample, resample_check
from marketdata.core.archives import ArchiveError, archive_parse
from marketdata.core.candles import Candle, CandleError
from marketdata.core.funding import FUNDING_VENUES
from marketdata.core.gaps import Range
from marketdata.core.intervals import IntervalError, interval_get, venue_interval_code
from marketdata.core.rest import PayloadError, VenueError
from marketdata.core.venues import (
    VENUE_MARKET_TYPES,
    MarketType,
    SymbolError,
    Venue,
    unified_symbol_market_type,
)
from marketdata.downloads import DownloadSummary, DownloadTarget, instruments_load, klines_download
from marketdata.exchanges.transport import TransportError
from marketdata.funding_downloads import FundingSummary, FundingTarget, funding_rates_download
from marketdata.models import Instrument


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[CommandParser], None]
    handle: Callable[[BaseCommand, dict[str, Any]], None]


def ms_text(ms: int) -> str:
    return utc_from_ms(ms).strftime("%Y-%m-%d %H:%M:%S")


def _market_arguments(parser: CommandParser, window: bool = True) -> None:
    parser.add_argument("--exchange", required=True, choices=[v.value for v in Venue])
    parser.add_argument("--symbol", required=True, help="unified symbol: BTC/USDT, BTC/USDT:USDT")
    parser.add_argument("--interval", required=True, help="platform interval code: 1s 1m … 1d 3d 1w 1M")
    if window:
        parser.add_argument("--start", required=True, type=str, help="date or ISO datetime, UTC")
        parser.add_argument("--end", required=True, type=str, help="date or ISO datetime, UTC, exclusive")


def _market(options: dict[str, Any]) -> tuple[Instrument, str]:
    try:
        code = interval_get(options["interval"]).code
    except IntervalError as error:
        raise CommandError(str(error)) from None
    try:
        instrument = selectors.instrument_get(exchange=options["exchange"], symbol=options["symbol"])
    except Instrument.DoesNotExist:
        raise CommandError(f"no instrument {options['symbol']!r} on {options['exchange']}") from None
    return instrument, code


def _window(options: dict[str, Any]) -> Range:
    try:
        start, end = utc_ms_parse(options["start"]), utc_ms_parse(options["end"])
    except ValueError as error:
        raise CommandError(str(error)) from None
    if end <= start:
        raise CommandError(f"--end ({options['end']}) must be after --start ({options['start']})")
    return start, end


# -- export ---------------------------------------------------------------------------------------------------


def _export_arguments(parser: CommandParser) -> None:
    _market_arguments(parser)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--output", help="file to write (default: stdout, csv only)")
    parser.add_argument(
        "--resample-from",
        metavar="INTERVAL",
        help="make --interval candles from stored candles of this lower interval (csv); never stored",
    )


class _TextOut:
    """Bytes to the command's text stdout (what call_command captures)."""

    def __init__(self, command: BaseCommand):
        self.command = command

    def write(self, data: bytes) -> int:
        self.command.stdout.write(bytes(data).decode("ascii"), ending="")
        return len(data)

    def seekable(self) -> bool:
        return False


def _export(command: BaseCommand, options: dict[str, Any]) -> None:
    instrument, code = _market(options)
    start, end = _window(options)
    fmt = options["format"]
    if options.get("resample_from"):
        _export_resampled(command, options, instrument, code, start, end)
        return
    if options["output"]:
        with Path(options["output"]).open("wb") as out:
            selectors.klines_export(
                instrument_id=instrument.pk, interval=code, start_ms=start, end_ms=end, out=out, format=fmt
            )
        return
    if fmt == "parquet":
        raise CommandError("parquet is binary: give --output FILE")
    out_stream = cast(BinaryIO, _TextOut(command))
    selectors.klines_export(instrument_id=instrument.pk, interval=code, start_ms=start, end_ms=end, out=out_stream)


def _export_resampled(
    command: BaseCommand, options: dict[str, Any], instrument: Instrument, code: str, start: int, end: int
) -> None:
    """The export CSV of ``code`` candles made on request from stored lower-interval candles."""
    if options["format"] != "csv":
        raise CommandError("--resample-from writes csv only")
    try:
        source, target = interval_get(options["resample_from"]), interval_get(code)
        resample_check(source, target)
    except (IntervalError, ValueError) as error:
        raise CommandError(str(error)) from None
    start, end = target.ceil(start), target.ceil(end)  # whole target candles only
    candles = selectors.klines_read(instrument_id=instrument.pk, interval=source.code, start_ms=start, end_ms=end)
    lines = ["open_time,open,high,low,close,volume"]
    made = resample(candles, source, target)
    lines += [f"{c.open_time},{c.open},{c.high},{c.low},{c.close},{c.volume}" for c in made]
    text = "\n".join(lines) + "\n"
    if options["output"]:
        Path(options["output"]).write_text(text, encoding="ascii")
    else:
        command.stdout.write(text, ending="")


# -- gaps -----------------------------------------------------------------------------------------------------


def _gaps(command: BaseCommand, options: dict[str, Any]) -> None:
    instrument, code = _market(options)
    start, end = _window(options)
    report = selectors.klines_gaps(instrument_id=instrument.pk, interval=code, start_ms=start, end_ms=end)
    write = command.stdout.write
    write(
        f"{instrument} {code} [{ms_text(start)}, {ms_text(end)}) UTC: "
        f"{report.unfetched_candles} candles unfetched in {len(report.unfetched)} ranges, "
        f"{report.venue_empty_candles} venue-empty in {len(report.venue_empty)} ranges"
    )
    iv = interval_get(code)
    rows = sorted([(r, "unfetched") for r in report.unfetched] + [(r, "venue-empty") for r in report.venue_empty])
    for (lo, hi), kind in rows:
        write(f"{kind:<12} {ms_text(lo)} → {ms_text(hi)}  ({iv.count(lo, hi)} candles)")


# -- import ---------------------------------------------------------------------------------------------------

_EXPORT_HEADER = re.compile(r"open_time(_ms)?,open,high,low,close,volume\Z")
_ARCHIVE_NAME = re.compile(r"(?P<symbol>[A-Z0-9_]+)-(?P<code>\w+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip\Z")


def _import_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help="export-format CSV, Binance archive CSV, or Binance archive zip (+ .CHECKSUM)")
    _market_arguments(parser, window=False)
    parser.add_argument(
        "--covered",
        action="store_true",
        help="CSV only: mark [first open, last close) as fetched, so absent candles count as venue-empty",
    )


def _export_csv_parse(text: str) -> list[Candle]:
    candles = []
    for number, line in enumerate(text.splitlines()[1:], start=2):
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != 6 or not fields[0].isdigit():
            raise CommandError(f"line {number}: expected open_time,open,high,low,close,volume: {line[:120]!r}")
        candles.append(Candle(int(fields[0]), fields[1], fields[2], fields[3], fields[4], fields[5]))
    return candles


def _import(command: BaseCommand, options: dict[str, Any]) -> None:
    path = Path(options["file"])
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        code = interval_get(options["interval"]).code
    except IntervalError as error:
        raise CommandError(str(error)) from None
    instrument = Instrument.objects.filter(exchange=options["exchange"], symbol=options["symbol"].upper()).first()
    try:
        if path.suffix == ".zip":
            if instrument is None:
                raise CommandError(f"no instrument {options['symbol']!r} on {options['exchange']}")
            _import_zip(command, instrument, code, path)
            return
        data = path.read_bytes()
        first_line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
        if _EXPORT_HEADER.match(first_line):
            candles = _export_csv_parse(data.decode("ascii"))
        else:
            candles = archive_parse(data, interval_get(code))
        covered = None
        if options["covered"] and candles:
            covered = (candles[0].open_time, interval_get(code).close_time(candles[-1].open_time))
        with transaction.atomic():  # a new market and its candles, or neither
            if instrument is None:
                instrument = _instrument_for_import(command, options, candles)
            result = services.klines_store(instrument_id=instrument.pk, interval=code, candles=candles, covered=covered)
    except (ArchiveError, CandleError, UnicodeDecodeError, ValueError) as error:
        raise CommandError(f"{path.name}: {error}; nothing was written") from None
    command.stdout.write(
        f"{path.name}: {len(candles)} candles, {result.written} written, {result.present} already present"
    )


def _instrument_for_import(command: BaseCommand, options: dict[str, Any], candles: list[Candle]) -> Instrument:
    """A market not in the venue's list here (none loaded: an offline import) is created from its symbol, with the
    finest price and volume steps the file shows; a later market-list load replaces them with the venue's."""
    if not candles:
        raise CommandError(f"no instrument {options['symbol']!r} on {options['exchange']}, and no candles to import")
    price_scale = max(decimal_scale(text) for c in candles for text in (c.open, c.high, c.low, c.close))
    volume_scale = max(decimal_scale(c.volume) for c in candles)
    instrument = services.instrument_create_from_symbol(
        exchange=options["exchange"],
        symbol=options["symbol"],
        tick_size=decimal_step(price_scale),
        lot_size=decimal_step(volume_scale),
    )
    command.stderr.write(
        f"created instrument {instrument} ({instrument.venue_symbol}) from the file: tick {instrument.tick_size}, "
        f"lot {instrument.lot_size}; a market-list load (klines download) replaces them with the venue's"
    )
    return instrument


def _import_zip(command: BaseCommand, instrument: Instrument, code: str, path: Path) -> None:
    match = _ARCHIVE_NAME.match(path.name)
    if not match:
        raise CommandError(f"{path.name}: not a Binance archive name (SYMBOL-INTERVAL-YYYY-MM[-DD].zip)")
    checksum = path.with_name(path.name + ".CHECKSUM")
    if not checksum.is_file():
        raise CommandError(f"{checksum.name} is missing: an archive is imported only after its sha256 is checked")
    result = services.archive_import(
        instrument_id=instrument.pk,
        interval=code,
        period=match["period"],
        url=path.resolve().as_uri(),
        zip_bytes=path.read_bytes(),
        checksum_text=checksum.read_text(),
    )
    command.stdout.write(
        f"{path.name}: {result.status}, {result.rows} candles, {result.written} written, {result.present} present"
    )


# -- download -------------------------------------------------------------------------------------------------


def _download_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--exchange",
        action="append",
        required=True,
        choices=[*(v.value for v in Venue), "all"],
        help="repeat for several venues, or 'all'",
    )
    parser.add_argument("--symbol", action="append", required=True, help="unified symbol; repeat for several")
    parser.add_argument("--interval", action="append", required=True, help="platform interval code; may repeat")
    parser.add_argument("--start", required=True, help="date or ISO datetime, UTC")
    parser.add_argument("--end", required=True, help="date or ISO datetime, UTC, exclusive")
    parser.add_argument("--no-archives", action="store_true", help="Binance: REST only, no bulk archives")
    parser.add_argument(
        "--recheck-archives",
        action="store_true",
        help="Binance: check imported archives' .CHECKSUM again; a re-published period is re-imported",
    )
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight per venue budget")


def _download_targets(command: BaseCommand, options: dict[str, Any]) -> list[DownloadTarget]:
    """Every (venue, symbol, interval) asked for that exists; a combination missing at one of several venues is
    skipped with a note, a symbol or interval that exists at none of them is an error."""
    venues = list(Venue) if "all" in options["exchange"] else [Venue(v) for v in dict.fromkeys(options["exchange"])]
    start, end = _window(options)
    try:
        codes = [interval_get(code).code for code in dict.fromkeys(options["interval"])]
    except IntervalError as error:
        raise CommandError(str(error)) from None
    symbols = list(dict.fromkeys(options["symbol"]))
    for symbol in symbols:
        try:
            unified_symbol_market_type(symbol)
        except SymbolError as error:
            raise CommandError(str(error)) from None
    targets: list[DownloadTarget] = []
    found: set[str] = set()
    for venue in venues:
        for symbol in symbols:
            market_type = unified_symbol_market_type(symbol)
            if market_type not in VENUE_MARKET_TYPES[venue]:
                command.stderr.write(f"{venue}: no {market_type} markets here; {symbol} skipped")
                continue
            instrument = _instrument_find(command, venue, market_type, symbol)
            if instrument is None:
                command.stderr.write(f"{venue}: no market {symbol}; skipped")
                continue
            found.add(symbol)
            for code in codes:
                try:
                    venue_interval_code(venue, market_type, code)
                except IntervalError as error:
                    command.stderr.write(f"{error}; skipped")
                    continue
                targets.append(DownloadTarget.for_instrument(instrument, code, start, end))
    for symbol in symbols:
        if symbol not in found:
            raise CommandError(f"{symbol}: no such market at {', '.join(venues)}")
    for code in codes:
        if not any(t.interval == code for t in targets):
            raise CommandError(f"{code}: no market with this interval at {', '.join(venues)}")
    for symbol in symbols:
        if not any(t.symbol == symbol for t in targets):
            raise CommandError(f"{symbol}: no market with these intervals at {', '.join(venues)}")
    return targets


def _instrument_find(command: BaseCommand, venue: Venue, market_type: MarketType, symbol: str) -> Instrument | None:
    """The stored instrument; the first time a symbol is asked for, the venue's market list is loaded."""
    instrument = Instrument.objects.filter(exchange=venue.value, symbol=symbol).first()
    if instrument is not None:
        return instrument
    command.stderr.write(f"{venue}: {symbol} unknown here; loading {venue}'s {market_type} market list")
    try:
        instruments_load(venue=venue, market_type=market_type)
    except (VenueError, PayloadError, TransportError) as error:
        raise CommandError(f"{venue}: cannot load the market list: {error}") from None
    return Instrument.objects.filter(exchange=venue.value, symbol=symbol).first()


class _ProgressBar:
    """One redrawn line on a terminal: work done of planned (candles, or windows of funding events), rows stored,
    rate, ETA. Silent elsewhere."""

    def __init__(self, command: BaseCommand, unit: str = "candles"):
        self.stream = command.stderr
        self.tty = command.stderr.isatty()
        self.started = time.monotonic()
        self.unit = unit

    def __call__(self, summary: DownloadSummary | FundingSummary) -> None:
        if not self.tty:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        done, planned = summary.done, max(summary.planned, 1)
        rate = done / elapsed
        eta = (planned - done) / rate if rate > 0 else float("inf")
        width = 30
        filled = min(width, int(width * done / planned))
        eta_text = "--:--" if eta == float("inf") else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done / planned:5.1f}% "
            f"{summary.rows_written + summary.rows_present:,} rows {rate:,.0f} {self.unit}/s ETA {eta_text}",
            ending="",
        )
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("")


def _download(command: BaseCommand, options: dict[str, Any]) -> None:
    targets = _download_targets(command, options)
    bar = _ProgressBar(command)
    summary = klines_download(
        targets=targets,
        use_archives=not options["no_archives"],
        recheck_archives=options["recheck_archives"],
        concurrency=options["concurrency"],
        progress=bar,
    )
    bar.close()
    _summary_write(command, summary)


def _summary_write(command: BaseCommand, summary: DownloadSummary | FundingSummary) -> None:
    """A download's errors on stderr and its summary line on stdout; a failed market fails the command."""
    for error in summary.errors:
        command.stderr.write(f"error: {error}")
    command.stdout.write(summary.line())
    if summary.errors:
        raise CommandError(f"{len(summary.errors)} market(s) failed; re-run to resume where they stopped")


# -- funding --------------------------------------------------------------------------------------------------


def _funding_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--exchange",
        action="append",
        required=True,
        choices=[*(v.value for v in FUNDING_VENUES), "all"],
        help="binance (USD-M) or bybit (linear); repeat, or 'all'",
    )
    parser.add_argument("--symbol", action="append", required=True, help="unified perpetual: BTC/USDT:USDT; repeat")
    parser.add_argument("--start", required=True, help="date or ISO datetime, UTC")
    parser.add_argument("--end", required=True, help="date or ISO datetime, UTC, exclusive")
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight per venue budget")


def _funding_targets(command: BaseCommand, options: dict[str, Any]) -> list[FundingTarget]:
    """Every (venue, perpetual) asked for that exists; one missing at one of several venues is skipped with a note,
    one that exists at none of them is an error, and so is a spot symbol."""
    venues = (
        list(FUNDING_VENUES) if "all" in options["exchange"] else [Venue(v) for v in dict.fromkeys(options["exchange"])]
    )
    start, end = _window(options)
    symbols = list(dict.fromkeys(options["symbol"]))
    for symbol in symbols:
        try:
            market_type = unified_symbol_market_type(symbol)
        except SymbolError as error:
            raise CommandError(str(error)) from None
        if market_type is not MarketType.PERP:
            raise CommandError(f"{symbol} is a spot symbol: funding rates are for perpetuals (BASE/QUOTE:SETTLE)")
    targets = []
    for symbol in symbols:
        for venue in venues:
            instrument = _instrument_find(command, venue, MarketType.PERP, symbol)
            if instrument is None:
                command.stderr.write(f"{venue}: no market {symbol}; skipped")
                continue
            targets.append(FundingTarget.for_instrument(instrument, start, end))
        if not any(t.symbol == symbol for t in targets):
            raise CommandError(f"{symbol}: no such market at {', '.join(venues)}")
    return targets


def _funding(command: BaseCommand, options: dict[str, Any]) -> None:
    targets = _funding_targets(command, options)
    bar = _ProgressBar(command, unit="windows")
    summary = funding_rates_download(targets=targets, concurrency=options["concurrency"], progress=bar)
    bar.close()
    _summary_write(command, summary)


# -- markets ----------------------------------------------------------------------------------------------------


def _markets_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--exchange", action="append", required=True, choices=[*(v.value for v in Venue), "all"], help="may repeat"
    )


def _markets(command: BaseCommand, options: dict[str, Any]) -> None:
    venues = list(Venue) if "all" in options["exchange"] else [Venue(v) for v in dict.fromkeys(options["exchange"])]
    for venue in venues:
        for market_type in VENUE_MARKET_TYPES[venue]:
            try:
                count = instruments_load(venue=venue, market_type=market_type)
            except (VenueError, PayloadError, TransportError) as error:
                raise CommandError(f"{venue} {market_type}: cannot load the market list: {error}") from None
            command.stdout.write(f"{venue} {market_type}: {count} markets loaded")


SUBCOMMANDS: dict[str, Subcommand] = {
    "download": Subcommand(
        "fetch candles from the venues (archives + REST), resumable", _download_arguments, _download
    ),
    "funding": Subcommand(
        "fetch perpetuals' funding-rate history (Binance USD-M, Bybit linear), resumable",
        _funding_arguments,
        _funding,
    ),
    "markets": Subcommand("load the venues' market lists (symbols, steps, listings)", _markets_arguments, _markets),
    "export": Subcommand("write stored candles as CSV or parquet", _export_arguments, _export),
    "gaps": Subcommand("list missing ranges: unfetched vs venue-empty", _market_arguments, _gaps),
    "import": Subcommand(
        "load an export CSV or a Binance archive (CSV, or zip with .CHECKSUM)", _import_arguments, _import
    ),
}


class Command(BaseCommand):
    help = "Klines: " + ", ".join(SUBCOMMANDS) + "."

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", required=True)
        for name, subcommand in SUBCOMMANDS.items():
            subcommand.add_arguments(subparsers.add_parser(name, help=subcommand.help))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            SUBCOMMANDS[options["subcommand"]].handle(self, options)
        except (ArchiveError, CandleError, services.InstrumentNotFound) as error:
            raise CommandError(str(error)) from None
