#!/usr/bin/env python3
"""docs/stability.md's tables and figures from results/stability (normlab_tools.study; --help)."""
from normlab_tools.study import main

raise SystemExit(main())
