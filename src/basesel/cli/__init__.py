"""The `basesel` command line: thin commands over the library."""
