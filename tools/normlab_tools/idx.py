"""IDX images (the MNIST format; Fashion-MNIST's files), read in Python: the report draws test images.

The C reader (src/data/idx.c) is the one that checks files; this one reads a set the train program has
already accepted.
"""
import gzip
import os
import struct


def read_images(path):
    """(n, rows, cols, pixels): an IDX images file, plain or gzip; pixels is bytes, n*rows*cols long."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        raise ValueError(f"{path}: magic number 0x{magic:08x}, not an IDX images file")
    return n, rows, cols, data[16:16 + n * rows * cols]


def test_image(folder, i):
    """Test image i of the set in folder, as rows of pixel values (0..255)."""
    n, rows, cols, px = read_images(os.path.join(folder, "t10k-images-idx3-ubyte"))
    at = i * rows * cols
    return [list(px[at + r * cols:at + (r + 1) * cols]) for r in range(rows)]
