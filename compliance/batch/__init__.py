"""District and national rounds: many centres in, a league table and a district report out.

``sources`` reads folders, JSON Lines, CSV and the xlsx template, locating every
record; ``run`` audits chunks of them in this process, local worker processes or
a Dask cluster, in input order; ``round`` is ``compliance batch`` (resumable,
streaming); ``outputs`` writes the tables and the district report; ``workbook``
the collection template and the exports between formats; ``rectification`` the
rectification ledger of several rounds (``compliance ledger``).
"""
from __future__ import annotations

from .run import audit_many
from .sources import read_profiles

__all__ = ["audit_many", "read_profiles"]
