"""The production request: its form, its validation and its decision."""
