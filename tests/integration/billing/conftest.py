from tests.integration.billing.support import billing_db

__all__ = ["billing_db"]
