"""One module per check area (migrations, secrets, clock, exposure, transport, proxy)."""
