"""safetensors files (checkpoints, --dump-step files) read into PyTorch tensors: the one reader the
tools share. The format: an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range (and __metadata__: strings), then the bytes."""
import json
import struct

DTYPE_NAMES = ("F32", "F64", "I32", "I64")


def read_header(raw):
    """(header, metadata, data bytes) of a whole file's bytes; ValueError when it is not safetensors."""
    if len(raw) < 8:
        raise ValueError("shorter than a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"header of {n} bytes in a file of {len(raw)}")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return header, meta, raw[8 + n:]


def read_safetensors(path):
    """(tensors, metadata): every tensor by name (torch, own memory), and the metadata strings."""
    import torch  # only here: reading a header needs no PyTorch
    dtypes = dict(zip(DTYPE_NAMES, (torch.float32, torch.float64, torch.int32, torch.int64)))
    with open(path, "rb") as f:
        header, meta, data = read_header(f.read())
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = dtypes[e["dtype"]]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=dt) if end > b else torch.zeros(0, dtype=dt)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, meta


def read_scalars(path):
    """(metadata, {name: value}) of every one-element float tensor (a checkpoint's alpha, beta, shift
    and emb_scale), without PyTorch."""
    with open(path, "rb") as f:
        header, meta, data = read_header(f.read())
    scalars = {}
    for name, e in header.items():
        fmt = {"F32": "<f", "F64": "<d"}.get(e.get("dtype"))
        lo, hi = e["data_offsets"]
        if fmt and e.get("shape") in ([1], []) and hi - lo == struct.calcsize(fmt):
            scalars[name] = struct.unpack(fmt, data[lo:hi])[0]
    return meta, scalars
