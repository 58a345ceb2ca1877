"""The `chord` subcommands (info, animate, plan): argument parsing and printing over the library."""
