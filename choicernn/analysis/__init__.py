"""Trust and insight: recovery studies, posterior predictive checks, explaining networks, privacy."""
