#!/usr/bin/env python3
"""a sweep of train runs over norms, lrs, seeds and inits (normlab_tools.sweep; --help)."""
from normlab_tools.sweep import main

raise SystemExit(main())
