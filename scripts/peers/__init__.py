"""Peers that ``scripts/bench`` measures beside this project in the same run (``compare``):
Hypercore from npm (``hypercore/``, installed by the bench into ``hypercore/node_modules``) and
PostgreSQL from Debian's packages (a private cluster, ``tests.pg``)."""
