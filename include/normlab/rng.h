// A seedable random number generator (xoshiro256**, seeded through splitmix64). Its whole state is
// four words, so saving and restoring it (checkpoints, repeatable dropout) is a struct copy.
#pragma once
#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);         // [0, 1), 53 random bits
double rng_normal(Rng *r);          // N(0, 1), Box-Muller, two uniforms per value
uint32_t rng_below(Rng *r, uint32_t n); // uniform integer in [0, n), unbiased
