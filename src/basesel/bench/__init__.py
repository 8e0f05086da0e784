"""The benchmark: tasks x conditions -> metrics, latency, cost and TCO."""
