"""The Python tests' one way to check: a line per check (ok or FAIL, with the detail on failure), and
the exit status from whether all held."""
failed = []


def check(what, cond, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {what}" + (f"\n{detail}" if detail and not cond else ""))
    if not cond:
        failed.append(what)


def status():
    """0 when every check held, else 1."""
    return 1 if failed else 0
