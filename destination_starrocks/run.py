"""Console-script entry point (`destination-starrocks spec|check|write`).

`write` runs without importing the Airbyte CDK (write_command.py), which saves over a second per sync;
`spec` and `check` go through the CDK's Destination.
"""

from __future__ import annotations

import sys


def run() -> None:
    args = sys.argv[1:]
    if args[:1] == ["write"]:
        from destination_starrocks.write_command import main

        sys.exit(main(args))
    from destination_starrocks.destination import DestinationStarRocks

    DestinationStarRocks().run(args)
