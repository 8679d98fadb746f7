"""Console-script entry point (`destination-starrocks spec|check|write`)."""

from __future__ import annotations

import sys

from destination_starrocks.destination import DestinationStarRocks


def run() -> None:
    DestinationStarRocks().run(sys.argv[1:])
