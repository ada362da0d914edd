"""Country codes: the issuer prefixes of AEO ids, partner codes in consent lists, and the
prefixes of EORI numbers. Data only.

Decisions:

- ``ISO_COUNTRIES`` holds the 249 *officially assigned* ISO 3166-1 alpha-2 codes and nothing
  else. ``EU`` is only *exceptionally reserved* by ISO: the EU's AEO authorisations are issued
  by the member states under their own prefixes (``DE``, ``FR``...), and the parties that sign
  and run MRAs on this ledger are administrations with an ISO code, so ``EU`` is refused as an
  AEO issuer and as a consent partner. Transitional codes (``AN``, ``CS``...) and user-assigned
  ones (``XK``, ``XI``) are refused too.
- ``EORI_PREFIXES`` adds ``XI``: the EU's code for Northern Ireland, which prefixes the EORI
  numbers of traders there (Protocol on Ireland/Northern Ireland, since 2021). It is valid only
  inside an EORI, never as an issuer.
"""

from __future__ import annotations

__all__ = ["EORI_PREFIXES", "ISO_COUNTRIES"]

ISO_COUNTRIES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 (a block of codes reads best)
)

EORI_PREFIXES: frozenset[str] = ISO_COUNTRIES | {"XI"}
