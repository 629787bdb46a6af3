"""The batch-system boundary: one Backend protocol, an HTCondor and a local pool implementation."""
