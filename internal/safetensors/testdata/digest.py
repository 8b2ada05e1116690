"""Independent implementation of evarl's safetensors digest (docs/file-integrity.md),
used to produce the expected values of seal_test.go. Standard library only.

    python3 digest.py FILE.safetensors   -> prints the digest and the recorded one
"""
import hashlib
import json
import struct
import sys


def digest(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    buf = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    h = hashlib.sha256()
    h.update(b"evarl safetensors digest v1\x00")
    u64 = lambda v: h.update(struct.pack("<Q", v))

    def s(x):
        b = x.encode("utf-8")
        u64(len(b))
        h.update(b)

    keys = sorted(k for k in meta if k != "evarl_sha256")
    u64(len(keys))
    for k in keys:
        s(k)
        s(meta[k])
    names = sorted(header)  # Python sorts str by code point; Go by UTF-8 bytes: same order
    u64(len(names))
    for name in names:
        t = header[name]
        s(name)
        s(t["dtype"])
        u64(len(t["shape"]))
        for d in t["shape"]:
            u64(d)
        b, e = t["data_offsets"]
        u64(e - b)
        h.update(buf[b:e])
    return h.hexdigest(), meta.get("evarl_sha256")


if __name__ == "__main__":
    got, recorded = digest(sys.argv[1])
    print(got)
    print(recorded)
