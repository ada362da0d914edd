"""The help of ``mra aeo publish`` and ``mra aeo import``: a record's fields and the CSV
columns, built from the record's own rules and the bulk format's columns so they stay true."""

from __future__ import annotations

from node.core import bulk
from node.core.records import MAX_CITY, MAX_POSTCODE, MAX_TEXT, Certificate, IdScheme, Role
from node.core.status import StatusCode

__all__ = ["IMPORT_HELP", "PUBLISH_HELP"]


def _names(kind: type) -> str:
    return "|".join(str(member.value) for member in kind)  # type: ignore[attr-defined]


FIELDS = (
    "Fields (JSON; * required): "
    "aeo_id* (the issuer's ISO 3166-1 code + 1 to 15 upper-case letters or digits, BR000000001); "
    f"identifiers* (list of {{scheme: {_names(IdScheme)}, value}}); "
    f"legal_name* (at most {MAX_TEXT} characters); "
    f"address* {{street*, city* (at most {MAX_CITY}), postcode (at most {MAX_POSTCODE}), "
    "country* (ISO 3166-1 code)}; "
    f"certificate* ({_names(Certificate)}); "
    f"status* {{code* ({_names(StatusCode)}), reason (required unless valid), "
    "effective* (YYYY-MM-DD, not before authorised)}; "
    "authorised* (YYYY-MM-DD); expires (YYYY-MM-DD or null); "
    f"roles* (list of {_names(Role)}); "
    "consent (list of partner ISO codes the trader consents to share with, or null)."
)

EXAMPLE = (
    'Example: {"aeo_id": "BR000000001", "identifiers": [{"scheme": "EORI", "value": '
    '"BR12345678000190"}], "legal_name": "Atlântica Comércio Exterior Ltda", "address": '
    '{"street": "Avenida Paulista 1000", "city": "São Paulo", "postcode": "01310-100", '
    '"country": "BR"}, "certificate": "AEOS", "status": {"code": "valid", "reason": null, '
    '"effective": "2024-03-15"}, "authorised": "2024-03-15", "expires": null, "roles": '
    '["exporter", "importer"], "consent": ["UY"]} (README, "A record", has it laid out).'
)

PUBLISH_HELP = (
    f"Publish one AEO record (new, or a new version of an existing one).\n\n{FIELDS}\n\n{EXAMPLE}"
)

_REQUIRED = ", ".join(f"{c}*" if c in bulk.REQUIRED_COLUMNS else c for c in bulk.CSV_COLUMNS)

IMPORT_HELP = (
    "Import AEO records in bulk, all in one transaction. Every bad line (unreadable, or refused "
    "by the ledger's rules) is reported in one run with its line number and field; any bad line "
    "writes nothing unless --skip-invalid is given.\n\n"
    "JSON Lines (.jsonl): one record per line, with the fields of 'mra aeo publish'.\n\n"
    "CSV (.csv), comma-separated (or ';'-separated, told from the header), a header line "
    f"naming the columns in any order (* required): "
    f"{_REQUIRED}. Dates are YYYY-MM-DD; an empty cell is absent; identifiers are SCHEME:value "
    "pairs separated by ';' (EORI:BR12345678000190;TIN:12345678000190); roles and consent are "
    "separated by ';' (exporter;importer, AR;UY); address_country and status_effective are the "
    "record's address.country and status.effective. 'mra aeo export' writes this format.\n\n"
    "Exit status: 0 when every line was written (or was unchanged); 2 when nothing was written "
    "because of bad lines; 3 with --skip-invalid when the good lines were written and some "
    "were skipped."
)
