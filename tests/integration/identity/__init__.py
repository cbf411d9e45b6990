"""Integration tests of the identity service on the real MariaDB."""
