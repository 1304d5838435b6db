"""PNAG: a budget-conditioned architecture generator (one model for every latency budget)."""
