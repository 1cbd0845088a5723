"""``python -m analysis_utils`` = the ``crm-workbook`` command."""

import sys

from analysis_utils.cli import main

sys.exit(main())
