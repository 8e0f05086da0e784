"""The decision document."""
