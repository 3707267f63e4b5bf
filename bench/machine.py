"""What the benchmarks print about the machine they ran on (every speed figure names its CPU)."""
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
