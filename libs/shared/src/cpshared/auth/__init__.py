"""Authentication shared by every service: the signed principal assertion."""
