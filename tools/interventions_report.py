#!/usr/bin/env python3
"""docs/stability.md's interventions section from results/interventions (normlab_tools.interventions; --help)."""
from normlab_tools.interventions import main

raise SystemExit(main())
