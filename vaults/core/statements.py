"""A depositor's statement (the figures of one vault and period) and its documents: CSV and a one-page PDF.
Pure, no Django: :func:`vaults.selectors.statement_compute` makes the figures from the vault's event log.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hftplatform.core.decimal_text import decimal_text_trim_zeros


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
            ("management fee", decimal_text_trim_zeros(self.management_fee)),
            ("performance fee", decimal_text_trim_zeros(self.performance_fee)),
            ("closing value", str(self.closing_value)),
            ("closing shares", format(self.closing_shares, "f")),
            ("net return", str(self.net_return)),
        ]


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
