"""`python -m neruba_harden` runs the CLI."""

from neruba_harden.cli import main

main()
