"""Test doubles with the exact API of the systems prodops talks to."""
