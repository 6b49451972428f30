"""The `smoke`, `webhook` and `demo` commands, as an operator runs them."""
