#!/usr/bin/env python3
"""a train checkpoint in PyTorch: loaded strictly, checked on a batch, written (normlab_tools.export; --help)."""
from normlab_tools.export import main

raise SystemExit(main())
