"""Phase markers: jobs say which phase they are in (by the API, or a stdout marker line), triage listens."""
