"""`neruba-harden checks`: list every registered check with its id, area and needs."""

from __future__ import annotations

import json

import click

from neruba_harden.registry import all_checks


@click.command("checks")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def checks(fmt: str) -> int:
    """List the registered checks: ids, areas, titles and the configuration they need."""
    specs = all_checks()
    if fmt == "json":
        rows = [
            {"check_id": s.check_id, "area": s.area, "title": s.title, "ids": list(s.ids),
             "titles": {i: s.title_of(i) for i in s.ids},
             "tags": list(s.tags), "needs": list(s.needs)}
            for s in specs
        ]
        click.echo(json.dumps(rows, indent=2))
        return 0
    for spec in specs:
        for check_id in spec.ids:
            needs = f"  (needs {', '.join(spec.needs)})" if spec.needs else ""
            click.echo(f"{check_id:<28} {spec.area:<11} {spec.title_of(check_id)}{needs}")
    return 0
