#!/usr/bin/env python3
"""docs/scaling.md's tables and figures from results/scaling (normlab_tools.scaling; --help)."""
from normlab_tools.scaling import main

raise SystemExit(main())
