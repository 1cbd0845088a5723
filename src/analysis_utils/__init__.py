"""crm-workbook: shared logic behind the analytical-CRM notebooks.

The notebooks under ``notebooks/`` tell the story; this package does the work.
Line- and order-level work is expressed in Ibis (``engine``, ``io``, ``prep``),
customer-level work in pandas and scikit-learn.
"""

import sys

# jsonschema checks the "iri" string format with rfc3987_syntax when that is installed, and that
# builds a parser on import: about 3 s of every process importing nbformat (papermill, nbconvert).
# nbformat's schemas use no string format, so the import is blocked (jsonschema then skips "iri").
sys.modules.setdefault("rfc3987_syntax", None)

__version__ = "0.1.0"
