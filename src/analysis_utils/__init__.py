"""crm-workbook: shared logic behind the analytical-CRM notebooks.

The notebooks under ``notebooks/`` tell the story; this package does the work.
Line- and order-level work is expressed in Ibis (``engine``, ``io``, ``prep``),
customer-level work in pandas and scikit-learn.
"""

__version__ = "0.1.0"
