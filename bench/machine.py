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


def cpuinfo(key):
    """The first value of key in /proc/cpuinfo, or ''."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.split(":", 1)[0].strip() == key:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def generation():
    """' (family 26 model 2, Zen 5)' where the model name is a bare brand (a cloud's 'AMD EPYC', which
    hides Zen 3 from Zen 5: speed figures differ between them); '' otherwise."""
    name, family, model = cpu_name(), cpuinfo("cpu family"), cpuinfo("model")
    if any(c.isdigit() for c in name) or not family.isdigit() or not model.isdigit():
        return ""
    f, m = int(family), int(model)
    zen = {23: "Zen 1/2", 26: "Zen 5"}.get(f) if "AMD" in name else None
    if "AMD" in name and f == 25:
        zen = "Zen 4" if 0x10 <= m <= 0x1F or 0x60 <= m <= 0xAF else "Zen 3"
    return f" (family {f} model {m}" + (f", {zen})" if zen else ")")


def describe():
    """The CPU, its cores and its widest vectors, e.g. 'AMD EPYC (family 26 model 2, Zen 5), 2 vCPUs, AVX-512'."""
    flags = ""
    try:
        flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    except OSError:
        pass
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else ""
    return ", ".join(x for x in (cpu_name() + generation(), f"{os.cpu_count()} vCPUs", isa) if x)


if __name__ == "__main__":
    print(describe())
