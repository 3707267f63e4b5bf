// normlab: reverse-mode autodiff in C11 for training toy transformers from scratch and studying
// normalization layers. This header includes the whole public API; each module also has its own:
//   normlab/config.h      what the library was built as (version, the real type)
//   normlab/check.h       NL_CHECK: always-on checks for programmer errors
//   normlab/real.h        nl_real: float, or double in a -Dreal=double build
//   normlab/arena.h       arenas: the memory tensors point into
//   normlab/tensor.h      Tensor (a view), Shape, NL_SHAPE(...)
//   normlab/rng.h         the random generator
//   normlab/params.h      a model's parameters: one table, one block
//   normlab/tape.h        the tape: record ops, run backward
//   normlab/ops.h         the primitive ops (matmul, linear, add, mul, tanh, erf, gelu, softmax, attention, ...)
//   normlab/gradcheck.h   finite-difference gradient checks
//   normlab/norm.h        the seven norm layers
//   normlab/layers.h      linear, attention, MLP
//   normlab/recompute.h   activation recomputation for any model's blocks
//   normlab/observe.h     what the forward reports to the instruments (the observer types)
//   normlab/model.h       a model as the training machinery sees it (the GPT fills one in)
//   normlab/gpt.h         nanoGPT's GPT
//   normlab/optim.h       AdamW, SGD, the schedule, clipping
//   normlab/dataset.h     character-level text datasets
//   normlab/safetensors.h, normlab/checkpoint.h, normlab/outfile.h   files
//   normlab/train.h       the training step, written once, and evaluation
//   normlab/session.h     a training session: optimizer, tapes, streams, step, log, checkpoints
//   normlab/threads.h     the team size that follows the free cores (--threads auto)
//   normlab/stats.h       instruments: what the layers do inside during training
//   normlab/dist.h        data parallel training on MPI
//   normlab/blas.h        the BLAS built with, and the thread count
//   normlab/cpu.h         subnormals flushed, OpenBLAS kernels for the CPU
// Every public name is prefixed by its module (tensor_, tape_, op_, norm_, gpt_, ...) or by NL_/nl_.
#pragma once
#include "normlab/config.h"

#include "normlab/check.h"
#include "normlab/real.h"

#include "normlab/arena.h"
#include "normlab/rng.h"
#include "normlab/tensor.h"
#include "normlab/params.h"

#include "normlab/gradcheck.h"
#include "normlab/ops.h"
#include "normlab/tape.h"

#include "normlab/model.h"
#include "normlab/gpt.h"
#include "normlab/observe.h"
#include "normlab/layers.h"
#include "normlab/recompute.h"
#include "normlab/norm.h"

#include "normlab/dataset.h"
#include "normlab/optim.h"

#include "normlab/checkpoint.h"
#include "normlab/outfile.h"
#include "normlab/safetensors.h"

#include "normlab/blas.h"
#include "normlab/cpu.h"
#include "normlab/dist.h"
#include "normlab/stats.h"
#include "normlab/train.h"
#include "normlab/session.h"
#include "normlab/threads.h"
