#!/usr/bin/env python3
"""the comparison of runs: figures and the HTML report (normlab_tools.report; --help)."""
from normlab_tools.report import main

raise SystemExit(main())
