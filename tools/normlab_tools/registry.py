"""The train program's tables, read from it (./train --registry) so that no tool keeps its own copy:
the norms (name, scalar, shift, softplus, kin, recipe), the presets, the options (name, default, saved,
help) and the log's columns.

  registry()      the whole table, as JSON
  norm_names()    the norms, in the registry's order
  norm_scalars()  norm -> "alpha" or "beta", for the element-wise norms
"""
import functools
import json
import os
import subprocess
import sys

from .files import ROOT, alone_env


def train_program():
    """The train program the tools run: $NORMLAB_TRAIN, else the build's (build/apps/train)."""
    return os.environ.get("NORMLAB_TRAIN") or os.path.join(ROOT, "build", "apps", "train")


@functools.lru_cache(maxsize=None)
def registry(train=None):
    """The train program's tables (./train --registry): {"norms": [{name, scalar, shift, softplus,
    kin, recipe}], "presets": [...], "options": [{name, default, saved, help}]}. The Python tools read the
    norms from here and keep no list of their own. train: the program (default $NORMLAB_TRAIN, else
    build/apps/train)."""
    train = train or train_program()
    try:
        out = subprocess.run([train, "--registry"], capture_output=True, text=True, check=True, env=alone_env()).stdout
        return json.loads(out)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        sys.exit(f"{os.path.basename(sys.argv[0])}: error: cannot read the norms from {train} --registry ({e}): "
                 "build it first (./train --help builds it), or set NORMLAB_TRAIN")


def norm_names():
    """The norms in the registry's order."""
    return [n["name"] for n in registry()["norms"]]


def norm_scalars():
    """norm -> its scalar ("alpha" or "beta"), for the element-wise norms only."""
    return {n["name"]: n["scalar"] for n in registry()["norms"] if n["scalar"]}


def log_columns():
    """The log's base columns, in order: [{name, help}]."""
    return registry()["columns"]["base"]


def instrument_families(per=None):
    """The kinds of instrument column ([{name, per, help}]), those measured per `per` ("group",
    "norm", "attention", "model") or all. A column is <family>.<group>, <norm>.<family>,
    <block>.<family> or <family>; the model's own scalars (emb_scale) are columns of their names."""
    return [f for f in registry()["columns"]["instruments"] if per is None or f["per"] == per]
