#!/usr/bin/env python3
"""a --dump-step file checked against the PyTorch reference (normlab_tools.dump_check; --help)."""
from normlab_tools.dump_check import main

raise SystemExit(main())
