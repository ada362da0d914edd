"""Deterministic synthetic AEO records for demos, benchmarks and tests.

``python -m node.core.sample --origin BR --count 1000`` prints JSON Lines. The same seed always
gives the same records; ids are ``<origin><9 digits>`` counting from 1.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from node.core.canonical import canonical_json
from node.core.records import AeoRecord

__all__ = ["EXAMPLE_RECORD", "sample_dicts", "sample_records"]

# One record as a registry writes it (README, the OpenAPI document, ``mra aeo publish --help``).
EXAMPLE_RECORD: dict[str, object] = {
    "aeo_id": "BR000000001",
    "identifiers": [
        {"scheme": "EORI", "value": "BR12345678000190"},
        {"scheme": "TIN", "value": "12345678000190"},
    ],
    "legal_name": "Atlântica Comércio Exterior Ltda",
    "address": {
        "street": "Avenida Paulista 1000",
        "city": "São Paulo",
        "postcode": "01310-100",
        "country": "BR",
    },
    "certificate": "AEOS",
    "status": {"code": "valid", "reason": None, "effective": "2024-03-15"},
    "authorised": "2024-03-15",
    "expires": "2027-03-15",
    "roles": ["exporter", "importer"],
    "consent": ["UY"],
}


@dataclass(frozen=True, slots=True)
class _Country:
    """What a trader of one issuing country plausibly looks like: words for names and streets in
    the country's language, its company forms, cities and postcode format (``#`` a digit)."""

    words: tuple[str, ...]
    forms: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    postcode: str


_PT = (
    *("Atlântica", "Serra", "Litoral", "Paraná", "Sul", "Norte", "Delta", "Cordilheira"),
    *("Prata", "Austral", "Central", "Oceânica", "Horizonte", "Aliança", "Bandeirante", "Tropical"),
)
_ES = (
    *("Atlántica", "Andes", "Pampa", "Litoral", "Sierra", "Sur", "Norte", "Delta", "Cordillera"),
    *("Paraná", "Plata", "Austral", "Central", "Oceánica", "Pacífico", "Río"),
)
_COUNTRIES = {
    "BR": _Country(
        _PT,
        ("Ltda", "S.A."),
        ("Avenida", "Rua", "Rodovia"),
        ("São Paulo", "Santos", "Rio de Janeiro", "Curitiba", "Itajaí", "Porto Alegre", "Manaus"),
        "#####-###",
    ),
    "AR": _Country(
        _ES,
        ("S.A.", "S.R.L.", "S.A.S."),
        ("Avenida", "Calle"),
        ("Buenos Aires", "Rosario", "Córdoba", "Mendoza", "Bahía Blanca", "Zárate"),
        "####",
    ),
    "UY": _Country(
        _ES,
        ("S.A.", "S.R.L."),
        ("Avenida", "Calle", "Rambla"),
        ("Montevideo", "Colonia del Sacramento", "Nueva Palmira", "Paysandú", "Fray Bentos"),
        "#####",
    ),
    "PY": _Country(
        _ES,
        ("S.A.", "S.R.L.", "E.A.S."),
        ("Avenida", "Calle"),
        ("Asunción", "Encarnación", "Ciudad del Este", "Villeta", "Luque"),
        "####",
    ),
    "CL": _Country(
        _ES,
        ("SpA", "S.A.", "Ltda."),
        ("Avenida", "Calle"),
        ("Santiago", "Valparaíso", "San Antonio", "Antofagasta", "Iquique", "Concepción"),
        "#######",
    ),
}
# Elsewhere (the simulation's 30 members): names and places that claim no language.
_ANY = _Country(
    ("Atlas", "Meridian", "Harbour", "Summit", "Delta", "Pioneer", "Orbit", "Crescent"),
    ("Ltd",),
    ("Harbour Road", "Trade Avenue", "Port Street"),
    ("Capital District", "Port City", "Free Trade Zone"),
    "#####",
)
_ROLES = ("importer", "exporter", "manufacturer", "carrier", "customs_broker", "warehouse_operator")


def _postcode(rng: random.Random, form: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in form)


def sample_dicts(
    origin: str, count: int, *, seed: int = 1, start: int = 1
) -> Iterator[dict[str, object]]:
    """``count`` record dicts (the ``AeoRecord.from_dict`` form) issued by ``origin``, with
    names, streets, cities, company forms and postcodes of that country; each record depends
    only on (seed, origin, number), so batches never repeat identifiers."""
    partners = [c for c in ("AR", "BR", "CL", "PY", "UY") if c != origin]
    country = _COUNTRIES.get(origin, _ANY)
    for number in range(start, start + count):
        rng = random.Random(f"{seed}:{origin}:{number}")
        year = rng.randint(2012, 2025)
        authorised = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        first, second = rng.sample(country.words, 2)
        name = f"{first} {second} {rng.choice(country.forms)}"
        yield {
            "aeo_id": f"{origin}{number:09d}",
            "identifiers": [
                {"scheme": "EORI", "value": f"{origin}{rng.randrange(10**11):011d}"},
                {"scheme": "TIN", "value": f"{rng.randrange(10**13):013d}"},
            ],
            "legal_name": name,
            "address": {
                "street": f"{rng.choice(country.streets)} {rng.choice(country.words)}"
                f" {rng.randint(1, 9999)}",
                "city": rng.choice(country.cities),
                "postcode": _postcode(rng, country.postcode),
                "country": origin,
            },
            "certificate": rng.choice(("AEOC", "AEOS", "AEOS", "AEOF")),
            "status": {"code": "valid", "reason": None, "effective": authorised},
            "authorised": authorised,
            "expires": None,
            "roles": sorted(rng.sample(_ROLES, rng.randint(1, 3))),
            "consent": sorted(rng.sample(partners, rng.randint(0, len(partners)))),
        }


def sample_records(origin: str, count: int, *, seed: int = 1, start: int = 1) -> list[AeoRecord]:
    """The same records as validated ``AeoRecord`` objects."""
    return [AeoRecord.from_dict(d) for d in sample_dicts(origin, count, seed=seed, start=start)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origin", default="BR")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for item in sample_dicts(args.origin, args.count, seed=args.seed):
        sys.stdout.buffer.write(canonical_json(item) + b"\n")


if __name__ == "__main__":
    main()
