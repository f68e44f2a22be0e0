"""The command line: click commands, options and progress bars; the only place that prints."""
