#!/usr/bin/env python3
"""./train sample CHECKPOINT: the prompt and the text after it, nothing else, exit 0; the same
seed gives the same text and another seed another; --top-k 1 is greedy (the temperature and the seed
no longer matter); no dataset is needed for a text model; a training option is refused naming it; a
ViT checkpoint classifies its test images; and a resumed run with nothing to train prints no NaN
(a checkpoint's best val loss once made it evaluate a split it had not read); training on from a
checkpoint whose text is gone is refused (it fell back to the default dataset). The train program's
path is the first argument. Exit 0 when every check holds."""
import os
import subprocess
import sys
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from normlab_tools.idx import write_tiny_set  # noqa: E402

SMALL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "8",
         "--eval-iters", "2", "--threads", "1", "--quiet", "--sample", "0"]


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        text, ckpt = os.path.join(tmp, "t.txt"), os.path.join(tmp, "m.st")
        with open(text, "w") as f:
            f.write("ROMEO: what light through yonder window breaks?\nJULIET: it is the east.\n" * 200)
        subprocess.run([train, *SMALL, "--steps", "60", "--save", ckpt, text], check=True, capture_output=True)
        os.unlink(text)  # a text model's sample needs its vocabulary only, which the checkpoint keeps
        sample = lambda *a: subprocess.run([train, "sample", ckpt, *a], capture_output=True, text=True)  # noqa: E731
        r = sample("--tokens", "40", "--prompt", "ROMEO:")
        check("./train sample prints the prompt and 40 characters, nothing else",
              r.returncode == 0 and r.stdout.startswith("ROMEO:") and len(r.stdout) == len("ROMEO:") + 40 + 1
              and r.stdout.endswith("\n") and r.stderr == "", repr(r.stdout) + r.stderr)
        again, other = sample("--tokens", "40", "--prompt", "ROMEO:"), sample("--tokens=40", "--prompt=ROMEO:", "--seed=7")
        check("the same seed draws the same text, another seed another",
              again.stdout == r.stdout and other.returncode == 0 and other.stdout != r.stdout, other.stdout + other.stderr)
        greedy = [sample("--tokens", "40", "--top-k", "1", "--temperature", t, "--seed", s).stdout
                  for t, s in (("0.5", "1"), ("2", "9"))]
        hot = [sample("--tokens", "40", "--temperature", "2", "--seed", s).stdout for s in ("1", "9")]
        check("--top-k 1 is greedy: one text whatever the temperature and the seed (not so without it)",
              greedy[0] == greedy[1] and len(greedy[0]) == 42 and hot[0] != hot[1], repr(greedy) + repr(hot))
        r = sample("--lr", "3")
        check("a training option is refused, named", r.returncode == 2 and "not --lr" in r.stderr, r.stderr)
        r = subprocess.run([train, "sample", "--tokens", "5", ckpt], capture_output=True, text=True)
        check("the checkpoint comes first: said", r.returncode == 2 and "the checkpoint comes first" in r.stderr, r.stderr)
        r = sample("--prompt", "Z~")
        check("a prompt outside the vocabulary is refused", r.returncode == 2 and "not in the vocabulary" in r.stderr,
              r.stderr)
        r = subprocess.run([train, "sample", "--help"], capture_output=True, text=True)
        check("./train sample --help explains it", r.returncode == 0 and "usage: ./train sample CHECKPOINT" in r.stdout)
        r = subprocess.run([train, "--resume", ckpt, "--steps", "0", "--sample", "5"], capture_output=True, text=True)
        check("a resumed run with nothing to train and no data prints no NaN",
              r.returncode == 0 and "nan" not in r.stdout.lower(), r.stdout[-500:])
        r = subprocess.run([train, *SMALL, "--resume", ckpt, "--steps", "80"], capture_output=True, text=True)
        check("training on from a checkpoint whose text is gone is refused (it trained on tinyshakespeare instead)",
              r.returncode == 1 and "which is not there any more" in r.stderr, r.stderr)

        images, vit = os.path.join(tmp, "images"), os.path.join(tmp, "vit.st")
        write_tiny_set(images)
        subprocess.run([train, "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--patch-size", "4", "--batch-size",
                        "8", "--steps", "4", "--threads", "1", "--quiet", "--sample", "0", "--save", vit, images],
                       check=True, capture_output=True)
        r = subprocess.run([train, "sample", vit, "--images", "5", images], capture_output=True, text=True)
        lines = r.stdout.strip().splitlines()
        check("a ViT checkpoint classifies its first test images, a line each",
              r.returncode == 0 and len(lines) == 5 and all(x.startswith(f"test image {i}: predicted")
                                                            for i, x in enumerate(lines)), r.stdout + r.stderr)


if __name__ == "__main__":
    main()
    sys.exit(status())
