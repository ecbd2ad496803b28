"""Numbers a service's administrator may set in its environment (a deadline, a lease), read once when the
service's modules load: a value that is not a number in range stops ``compliance serve`` with a message that
names the variable, not with a defect report."""
from __future__ import annotations

import math
import os

from ..errors import ComplianceError
from ..i18n import msg, quote


def seconds(name: str, default: float, least: float = 0.1) -> float:
    """The seconds ``name`` sets in the environment, ``default`` without it."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < least:
        smallest = format(least, "g")
        raise ComplianceError(msg("the environment variable {name} is {value}: write a number of seconds, "
                                  "{least} or more", name=name, value=quote(value), least=smallest))
    return number
