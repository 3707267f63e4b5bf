// The seed paper's outlier experiment (docs/engine.md, "The outlier experiment"), and the study it did not do.
//
//   outliers FILE          the sample from FILE (one number a line, # comments), e.g. the paper's
//   outliers --seed N      a sample of 100 values of 2 * N(0,1) drawn with seed N
//   outliers --study       many seeds x several C, sigma and numbers of simultaneous outliers:
//                          the distribution of the DyT / DyISRU residual ratio
//
// An outlier is walked out in 9 steps (5, 10, ..., 45 added to the largest value), passed through
// LayerNorm with the rest of its vector, and the (x, y) it traces, with its point reflection, is
// fitted by sqrt(C-1) tanh(alpha x) (DyT) and sqrt(C-1) x / sqrt(beta + x^2) (DyISRU).
// Fits: Newton on the sum of squared residuals, in double (outlier_experiment.c), not the tape:
// one parameter, and the answer is wanted to more digits than the float build carries.
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outlier_experiment.h"

enum { MAX_C = 4096 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: outliers FILE | --seed N  [--sigma S] [--out PREFIX] [--no-plot]\n"
            "       outliers --study [--seeds N]\n"
            "  FILE         one number a line ('#' comments): the sample, e.g. shared/outlier_sample.txt\n"
            "  --seed N     draw 100 values of sigma * N(0,1) instead (sorted)\n"
            "  --sigma S    the drawn sample's standard deviation (default 2, as in the paper)\n"
            "  --out PREFIX write PREFIX.dat (points, curves), PREFIX.gp and PREFIX.png (default: outliers)\n"
            "  --no-plot    write the data file and script but do not run gnuplot\n"
            "  --study      the extension: residual ratios over many seeds, C, sigma, outlier counts\n"
            "  --seeds N    seeds per study setting (default 200)\n");
}

static void print_fit(const char *name, const char *param, const Fit *f) {
    printf("  %-7s %-5s = %-14.9g MAR = %.9g   (%d Newton steps, dS/d%s = %.2e)\n", name, param,
           f->param, f->mar, f->iterations, param, f->grad);
}

static int write_outputs(const char *prefix, const OutlierPoints *p, const Fit *dyt,
                         const Fit *isru, bool plot) {
    char path[1024];
    snprintf(path, sizeof path, "%s.dat", prefix);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f, "# outlier experiment, LN target. index 0, the points: x y(LN) dyt dyt-resid dyisru dyisru-resid\n");
    for (int i = 0; i < p->n; i++) {
        double a = outlier_model(FIT_DYT, dyt->param, p->bound, p->x[i]);
        double b = outlier_model(FIT_DYISRU, isru->param, p->bound, p->x[i]);
        fprintf(f, "%.17g %.17g %.17g %.17g %.17g %.17g\n", p->x[i], p->y[i], a, a - p->y[i], b,
                b - p->y[i]);
    }
    double xmax = 0;
    for (int i = 0; i < p->n; i++) xmax = fmax(xmax, fabs(p->x[i]));
    xmax *= 1.15;
    fprintf(f, "\n\n# index 1, the fitted curves: x dyt(x) dyisru(x)\n");
    for (int i = 0; i <= 600; i++) {
        double x = -xmax + 2 * xmax * i / 600;
        fprintf(f, "%.9g %.9g %.9g\n", x, outlier_model(FIT_DYT, dyt->param, p->bound, x),
                outlier_model(FIT_DYISRU, isru->param, p->bound, x));
    }
    fclose(f);
    snprintf(path, sizeof path, "%s.gp", prefix);
    if (!(f = fopen(path, "w"))) return perror(path), 1;
    fprintf(f,
            "set terminal pngcairo size 900,600 font ',11'\nset output '%s.png'\n"
            "set title 'An outlier through LayerNorm (C = %d), fitted by DyT and DyISRU'\n"
            "set xlabel 'x (the outlier)'\nset ylabel 'y = LN(x)_{outlier}'\nset key top left\n"
            "set grid\nset yrange [-%g:%g]\n"
            "plot '%s.dat' index 1 using 1:2 with lines lw 2 title 'DyT, alpha = %.4g (MAR %.3g)', \\\n"
            "     '' index 1 using 1:3 with lines lw 2 title 'DyISRU, beta = %.4g (MAR %.3g)', \\\n"
            "     '' index 0 using 1:2 with points pt 7 ps 1.2 lc rgb 'black' title 'LayerNorm', \\\n"
            "     %g with lines dt 2 lc rgb 'gray' title 'bound sqrt(C-1)', -%g with lines dt 2 lc rgb 'gray' notitle\n",
            prefix, (int)lround(p->bound * p->bound + 1), p->bound * 1.1, p->bound * 1.1, prefix,
            dyt->param, dyt->mar, isru->param, isru->mar, p->bound, p->bound);
    fclose(f);
    printf("wrote %s.dat and %s.gp", prefix, prefix);
    if (plot) {
        char cmd[2100];
        snprintf(cmd, sizeof cmd, "gnuplot '%s.gp'", prefix);
        if (system(cmd) == 0) printf(", %s.png", prefix);
        else printf("; gnuplot failed or is missing (apt-get install gnuplot-nox), no PNG");
    }
    printf("\n");
    return 0;
}

// The experiment on one sample, as the paper did it, plus the RMSNorm self-check.
static int run_paper(const double *sample, int C, const char *what, const char *prefix, bool plot) {
    printf("sample: %s (C = %d, from %.6g to %.6g)\n\n", what, C, sample[0], sample[C - 1]);
    OutlierPoints p;
    if (outlier_points_make(sample, C, 1, 5, TARGET_LN, &p)) return fprintf(stderr, "outliers: out of memory\n"), 1;
    Fit dyt = outlier_fit(FIT_DYT, &p, 0.1), isru = outlier_fit(FIT_DYISRU, &p, 800);
    printf("target LayerNorm (population std, no eps), curves scaled by sqrt(C-1) = %.9g\n", p.bound);
    print_fit("DyT", "alpha", &dyt);
    print_fit("DyISRU", "beta", &isru);
    printf("  MAR ratio DyT / DyISRU = %.6g\n\n", dyt.mar / isru.mar);
    printf("  %3s %13s %13s %14s %14s\n", "S", "x", "y (LN)", "DyT resid", "DyISRU resid");
    for (int i = 0; i < p.n; i++) {
        int s = i % OUTLIER_STEPS + 1;
        char step[4] = "-";
        if (i < OUTLIER_STEPS) snprintf(step, sizeof step, "%d", s);
        double a = outlier_model(FIT_DYT, dyt.param, p.bound, p.x[i]) - p.y[i];
        double b = outlier_model(FIT_DYISRU, isru.param, p.bound, p.x[i]) - p.y[i];
        printf("  %3s %13.9g %13.9g %14.6e %14.6e\n", step, p.x[i],
               p.y[i], a, b);
    }
    int rc = write_outputs(prefix, &p, &dyt, &isru, plot);
    outlier_points_free(&p);

    // Self-check: through RMSNorm (bound sqrt(C)), DyISRU is exact with beta = the sum of the other
    // channels' squares, which the walk never changes.
    OutlierPoints q;
    if (outlier_points_make(sample, C, 1, 5, TARGET_RMSNORM, &q)) return 1;
    double others = 0;
    for (int k = 0; k < C - 1; k++) others += sample[k] * sample[k];
    Fit qd = outlier_fit(FIT_DYT, &q, 0.1), qi = outlier_fit(FIT_DYISRU, &q, 800);
    printf("\ntarget RMSNorm (no eps), curves scaled by sqrt(C) = %.9g\n", q.bound);
    print_fit("DyT", "alpha", &qd);
    print_fit("DyISRU", "beta", &qi);
    printf("  sum of the other channels' squares = %.12g: DyISRU is exact (MAR at rounding level)\n", others);
    outlier_points_free(&q);
    return rc;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The study: for each setting, many seeds; the distribution of MAR(DyT) / MAR(DyISRU).
static int run_study(int seeds) {
    const int Cs[] = {16, 100, 1024}, outs[] = {1, 3};
    const double sigmas[] = {0.5, 2, 8};
    printf("DyT / DyISRU mean-absolute-residual ratio over %d seeds per row (> 1: DyISRU fits better).\n"
           "Outlier steps are 5, 10, ..., 45 in absolute units. LayerNorm is scale-invariant, so only\n"
           "step / sigma matters: a small sigma means large outliers relative to the bulk. With k\n"
           "outliers walking out together, the curves' scale is their limit sqrt((C-k)/k).\n"
           "Fits start at alpha = 2 / (sqrt(C) sigma), beta = 2 C sigma^2 (the paper's 0.1 and 800 at C = 100, sigma = 2).\n\n",
           seeds);
    printf("%5s %6s %4s | %8s %8s %8s %8s %8s | %9s | %9s %9s\n", "C", "sigma", "outl", "min", "p10",
           "median", "p90", "max", "ISRU wins", "alpha med", "beta med");
    double *mem = malloc((3 * (size_t)seeds + MAX_C) * sizeof(double)); // ratio, alpha, beta, sample
    if (!mem) return fprintf(stderr, "outliers: out of memory\n"), 1;
    double *ratio = mem, *alpha = mem + seeds, *beta = alpha + seeds, *sample = beta + seeds;
    for (size_t ci = 0; ci < 3; ci++)
        for (size_t si = 0; si < 3; si++)
            for (size_t oi = 0; oi < 2; oi++) {
                int C = Cs[ci], better = 0;
                double sigma = sigmas[si];
                for (int s = 0; s < seeds; s++) {
                    Rng rng;
                    rng_seed(&rng, 1000003ull * (s + 1) + C);
                    outlier_sample_draw(&rng, sigma, C, sample);
                    OutlierPoints p;
                    if (outlier_points_make(sample, C, outs[oi], 5, TARGET_LN, &p))
                        return free(mem), fprintf(stderr, "outliers: out of memory\n"), 1;
                    Fit d = outlier_fit(FIT_DYT, &p, 2 / (sqrt(C) * sigma));
                    Fit i = outlier_fit(FIT_DYISRU, &p, 2 * C * sigma * sigma);
                    ratio[s] = d.mar / i.mar;
                    alpha[s] = d.param, beta[s] = i.param;
                    better += ratio[s] > 1;
                    outlier_points_free(&p);
                }
                qsort(ratio, seeds, sizeof(double), cmp);
                qsort(alpha, seeds, sizeof(double), cmp);
                qsort(beta, seeds, sizeof(double), cmp);
                printf("%5d %6g %4d | %8.3g %8.3g %8.3g %8.3g %8.3g | %8.1f%% | %9.4g %9.4g\n", C,
                       sigma, outs[oi], ratio[0], ratio[seeds / 10], ratio[seeds / 2],
                       ratio[seeds * 9 / 10], ratio[seeds - 1], 100.0 * better / seeds,
                       alpha[seeds / 2], beta[seeds / 2]);
            }
    free(mem);
    return 0;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"seed", required_argument, 0, 's'}, {"sigma", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},  {"no-plot", no_argument, 0, 'n'},
        {"study", no_argument, 0, 'S'},      {"seeds", required_argument, 0, 'N'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    long seed = -1, seeds = 200;
    double sigma = 2;
    const char *prefix = "outliers";
    bool plot = true, study = false;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': seed = strtol(optarg, &end, 10); if (*end || seed < 0) goto bad; break;
        case 'g': sigma = strtod(optarg, &end); if (*end || !(sigma > 0) || !isfinite(sigma)) goto bad; break;
        case 'o': prefix = optarg; break;
        case 'n': plot = false; break;
        case 'S': study = true; break;
        case 'N': seeds = strtol(optarg, &end, 10); if (*end || seeds < 10 || seeds > 1000000) goto bad; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (study) return run_study((int)seeds);
    double sample[MAX_C];
    char what[300], err[200];
    int C;
    if (seed >= 0 && optind == argc) {
        Rng rng;
        rng_seed(&rng, (uint64_t)seed);
        C = 100;
        outlier_sample_draw(&rng, sigma, C, sample);
        snprintf(what, sizeof what, "seed %ld, 100 values of %g * N(0,1), sorted", seed, sigma);
    } else if (seed < 0 && optind == argc - 1) {
        if ((C = outlier_sample_read(argv[optind], sample, MAX_C, err)) < 0) {
            fprintf(stderr, "outliers: error: %s\n", err);
            return 1;
        }
        qsort(sample, C, sizeof(double), cmp);
        snprintf(what, sizeof what, "%.280s", argv[optind]);
    } else {
        fprintf(stderr, "outliers: give a sample FILE or --seed N (not both)\n");
        usage(stderr);
        return 2;
    }
    return run_paper(sample, C, what, prefix, plot);
bad:
    fprintf(stderr, "outliers: bad value for --%s: '%s'\n", opts[0].name, optarg);
    return 2;
}
