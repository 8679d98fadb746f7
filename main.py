"""Airbyte convention: `python main.py spec|check|write ...` runs the connector."""

from destination_starrocks.run import run

if __name__ == "__main__":
    run()
