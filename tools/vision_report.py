#!/usr/bin/env python3
"""docs/vision.md's tables and figures from results/vision (normlab_tools.vision; --help)."""
from normlab_tools.vision import main

raise SystemExit(main())
