"""What the benchmarks print about the machine they ran on (every speed figure names its CPU)."""
import os
import platform


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (the platform's processor name elsewhere)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe():
    """The CPU, its cores and its widest vectors, e.g. 'AMD EPYC, 2 vCPUs, AVX-512'."""
    flags = ""
    try:
        flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    except OSError:
        pass
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else ""
    return ", ".join(x for x in (cpu_name(), f"{os.cpu_count()} vCPUs", isa) if x)


if __name__ == "__main__":
    print(describe())
