"""The `neruba-harden` command: a click group whose subcommands load lazily.

Starting the CLI (or `--help`) imports only click and this package's light modules; each
subcommand's module, and the area it drives, is imported when that subcommand runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from neruba_harden import __version__

EXIT_USAGE = 2  # the same as neruba_harden.findings.EXIT_USAGE, without importing it

# name -> ("module:attribute", one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "preflight": ("neruba_harden.commands.preflight:preflight", "Run every configured check before a release."),
    "smoke": ("neruba_harden.commands.smoke:smoke", "Run the post-deploy smoke sequence against a receiver."),
    "migrations": ("neruba_harden.commands.migrations:migrations", "Check that the database is at every Alembic head."),
    "secrets": ("neruba_harden.commands.secrets:secrets", "Check secret sources, Vault, rotation and DB privileges."),
    "clock": ("neruba_harden.commands.clock:clock", "Check clock drift against NTP servers."),
    "exposure": ("neruba_harden.commands.exposure:exposure", "Check docs, debug and admin surfaces per environment."),
    "transport": ("neruba_harden.commands.transport:transport", "Check the HTTPS redirect, HSTS and TLS."),
    "proxy": ("neruba_harden.commands.proxy:proxy", "Check forwarded headers and signatures through the proxy."),
    "webhook": ("neruba_harden.commands.webhook:webhook", "Sign or send one webhook event (support tools)."),
    "demo": ("neruba_harden.commands.demo:demo", "Run the sequence against the embedded reference receiver."),
    "reference": ("neruba_harden.commands.reference:reference", "Serve or migrate the reference receiver."),
    "checks": ("neruba_harden.commands.checks_list:checks", "List the registered checks."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neruba-harden")
def cli() -> None:
    """Deployment-hardening checks for the Neruba payment-webhook API.

    Exit codes: 0 nothing failed, 1 a check failed, 2 usage or configuration error,
    3 a check could not be verified and none failed.
    """


def fail_line(message: str) -> None:
    from neruba_harden import redact

    click.echo(f"neruba-harden: error: {redact.scrub(message)}", err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: expected faults are one line on stderr and exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="neruba-harden", standalone_mode=False)
    except click.exceptions.Abort:
        fail_line("aborted")
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        fail_line("interrupted")
        sys.exit(130)
    except Exception as exc:  # one line, never a traceback (and never a secret)
        from neruba_harden.errors import NerubaError

        if isinstance(exc, NerubaError):
            fail_line(str(exc))
        else:
            fail_line(f"internal error: {type(exc).__name__}: {exc}")
        sys.exit(EXIT_USAGE)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
