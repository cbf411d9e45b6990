"""Unit tests of the identity domain: no database, no network."""
