"""`python -m destination_starrocks spec|check|write ...`: the console script as a module."""

from destination_starrocks.run import run

if __name__ == "__main__":
    run()
