// The CPU's settings a program makes before training (src/tensor/cpu.c): subnormals flushed to
// zero, and OpenBLAS's kernels chosen for the CPU when a virtual machine hides its model.
#pragma once

// Subnormal numbers (below 1.2e-38 in float) cost the CPU a microcode assist per operation, 100x an
// ordinary one. Training produces them late in a run (saturated tanh and gelu tails, peaked softmax
// rows), and a DyT run slowed from 30k to 12k tokens/s. Flushing them to zero (FTZ: results; DAZ:
// inputs) changes values only below that bound. The mode is per thread: this sets it on the calling
// thread and on every thread of the OpenMP team (which OpenBLAS's gemms also run on), so call it
// after setting the team's size (blas_threads_set).
void cpu_flush_subnormals(void);

// OpenBLAS reads OPENBLAS_CORETYPE from the environment before main() runs, so a program that wants
// it re-executes itself once with it set (only when the user has not set it). OpenBLAS picks its
// kernels from the CPU model; under virtual machines that report a generic model it falls back to
// the SSE3 "Prescott" kernels, 3-4x slower here. When the CPU has AVX-512 (or AVX2), this names the
// matching kernels and execs argv again; otherwise (or on failure) it returns. Set the variable
// yourself to override; NORMLAB_NO_REEXEC=1 disables this.
void cpu_env_reexec(char **argv);
