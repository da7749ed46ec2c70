"""The one-command demo: `make demo` (python -m demo)."""
