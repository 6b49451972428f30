"""The CLI's subcommands, one module each, imported lazily by `neruba_harden.cli`."""
