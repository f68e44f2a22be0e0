"""The CLI's commands, one module per family; digest/cli.py registers them."""
