#!/usr/bin/env python3
"""train logs as TensorBoard event files, once or as the runs go (normlab_tools.board; --help)."""
from normlab_tools.board import main

raise SystemExit(main())
