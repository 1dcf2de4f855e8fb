"""Depositor statements: per vault and period, the opening and closing value, deposits, withdrawals, management
and performance fees and the net return; rendered as CSV and as a small PDF.

Numbers come from the fee engine replaying the vault's event log (``vaults.selectors.vault_engine_replay``), so
a statement shows exactly what the engine computes for the same events:

- the period is ``(start, end]``: an event at ``start`` belongs to the previous period;
- ``opening_value`` / ``closing_value``: the depositor's net value (``Σ shares · P - accrued performance fee``,
  base units, rounded down) with the management fee settled up to ``start`` / ``end`` (FEES.md: settled before
  a NAV is published);
- ``deposits``: base units credited in the period; ``withdrawals``: payouts fixed in the period (owed, whether or
  not custody has paid them yet);
- ``management_fee`` and ``performance_fee`` (crystallised): base units, exact, the differences of the
  depositor's running totals at ``end`` and at ``start``;
- ``net_return = closing - opening - deposits + withdrawals``: what the period earned after fees.
"""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from fees.core import Position
from fees.core import Vault as FeeVault
from fees.core.numbers import FEE_CONTEXT, ZERO, decimal_text
from vaults.models import Vault, VaultEvent
from vaults.selectors import event_apply


class StatementError(ValueError):
    """A statement that cannot be made (bad period)."""


@dataclass(frozen=True)
class Statement:
    vault_name: str
    vault_slug: str
    asset: str
    asset_decimals: int
    depositor_id: int
    start: datetime
    end: datetime
    opening_value: int  # base units
    closing_value: int
    deposits: int
    withdrawals: int
    management_fee: Decimal  # base units, exact
    performance_fee: Decimal
    closing_shares: Decimal
    net_return: int

    def rows(self) -> list[tuple[str, str]]:
        """(label, exact text) in statement order; amounts in base units."""
        return [
            ("vault", self.vault_name),
            ("asset", f"{self.asset} ({self.asset_decimals} decimals; amounts in base units)"),
            ("depositor", str(self.depositor_id)),
            ("period start (exclusive, UTC)", self.start.isoformat()),
            ("period end (inclusive, UTC)", self.end.isoformat()),
            ("opening value", str(self.opening_value)),
            ("deposits", str(self.deposits)),
            ("withdrawals", str(self.withdrawals)),
            ("management fee", decimal_text(self.management_fee)),
            ("performance fee", decimal_text(self.performance_fee)),
            ("closing value", str(self.closing_value)),
            ("closing shares", format(self.closing_shares, "f")),
            ("net return", str(self.net_return)),
        ]


def _position(engine: FeeVault, key: str, at: datetime, years_done: set[int], started: datetime) -> Position | None:
    """The depositor's position at ``at``: first the year ends the vault would crystallise on its next write
    (any service does, see ``vaults.services``), then the management fee settled to ``at``."""
    for year in range(started.year, at.year):
        end = datetime(year + 1, 1, 1, tzinfo=UTC)
        if year not in years_done and started < end <= at and end >= engine.settled_at:
            engine.crystallise(at=end, reason="year_end")
    if at > engine.settled_at:
        engine.settle(at=at)
    return engine.position(key) if key in engine.accounts else None


def statement_compute(*, vault_id: int, depositor_id: int, start: datetime, end: datetime) -> Statement:
    """The depositor's statement for ``(start, end]`` (aware datetimes). One pass over the vault's event log."""
    if start.tzinfo is None or end.tzinfo is None:
        raise StatementError("statement times must be aware UTC datetimes")
    if end <= start:
        raise StatementError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    vault = Vault.objects.get(pk=vault_id)
    key = str(depositor_id)
    engine = FeeVault(started_at=vault.started_at)
    opening: Position | None = None
    deposits = withdrawals = 0
    years: set[int] = set()
    started = vault.started_at
    for event in VaultEvent.objects.filter(vault_id=vault_id, at__lte=end).order_by("number").iterator(2000):
        if opening is None and event.at > start:
            # The state at start, settled to start, on a copy: the replay itself must not settle there.
            opening = _position(copy.deepcopy(engine), key, max(start, started), years, started) or _empty(key)
        if event.kind == VaultEvent.Kind.CRYSTALLISE and "year" in event.payload:
            years.add(int(event.payload["year"]))
        flows_before = len(engine.flows)
        event_apply(engine, event)
        if event.at > start:
            for flow in engine.flows[flows_before:]:
                if flow.depositor != key:
                    continue
                if flow.kind == "deposit":
                    deposits += flow.amount
                elif flow.kind == "deposit_reversal":  # the deposit never arrived on the canonical chain
                    deposits -= flow.amount
                else:
                    withdrawals += flow.payout
    if opening is None:
        opening = _position(copy.deepcopy(engine), key, max(start, started), years, started) or _empty(key)
    closing = _position(engine, key, max(end, engine.settled_at), years, started) or _empty(key)
    with localcontext(FEE_CONTEXT):
        return Statement(
            vault_name=vault.name,
            vault_slug=vault.slug,
            asset=vault.base_asset,
            asset_decimals=vault.asset_decimals,
            depositor_id=depositor_id,
            start=start,
            end=end,
            opening_value=opening.net_value,
            closing_value=closing.net_value,
            deposits=deposits,
            withdrawals=withdrawals,
            management_fee=closing.management_fee - opening.management_fee,
            performance_fee=closing.performance_fee - opening.performance_fee,
            closing_shares=closing.shares,
            net_return=closing.net_value - opening.net_value - deposits + withdrawals,
        )


def _empty(key: str) -> Position:
    return Position(key, ZERO, 0, 0, ZERO, ZERO, ZERO, 0, 0)


def statement_csv(statement: Statement) -> str:
    """The statement as CSV text: a header line and one ``field,value`` line per figure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["field", "value"])
    writer.writerows(statement.rows())
    return out.getvalue()


def _pdf_text(text: str) -> str:
    # PDF string literal: escape the three special characters; keep to Latin-1 for the standard font.
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_text_document(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 of ``title`` and text ``lines`` in Courier 10 pt (A4). Hand-written: catalog, pages,
    page, font, content stream, cross-reference table. Lines past the page's 60 are cut."""
    body = ["BT", "/F1 14 Tf", "50 800 Td", f"({_pdf_text(title)}) Tj", "/F1 10 Tf", "0 -28 Td"]
    for line in lines[:60]:
        body += [f"({_pdf_text(line)}) Tj", "0 -13 Td"]
    body.append("ET")
    stream = "\n".join(body).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def statement_pdf(statement: Statement) -> bytes:
    """The statement as a one-page PDF: the same figures as the CSV, one per line."""
    width = max(len(label) for label, _ in statement.rows())
    lines = [f"{label.ljust(width)}  {value}" for label, value in statement.rows()]
    return pdf_text_document(f"Statement - {statement.vault_name}", lines)
