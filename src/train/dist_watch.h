// The collectives' watchdog (normlab/dist.h, DistWatch): inside the library, for src/train/dist.c.
#pragma once
#include <mpi.h>

#include "normlab/dist.h"

#define COMM(d) (*(MPI_Comm *)(d)->comm)

// After MPI_Init and the communicator: the announcements' communicator and buffer. 0, or -1 when out of memory.
int watch_init(Dist *d);
// Before MPI_Finalize, on every rank: waits for the announcements in flight, frees the rest.
void watch_free(Dist *d);
// A collective starts: returns its number, told to the other ranks.
long watch_announce(Dist *d);
// Waits for n requests, the first of them collective number seq, under the watchdog: should none
// move for the timeout, says what (the collective), the step and which ranks it waits for, and ends the job.
void watch_wait(Dist *d, int n, MPI_Request *req, long seq, const char *what);
