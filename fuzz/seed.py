#!/usr/bin/env python3
"""Build the seed corpora for the fuzz targets from the MRT captures.

Reads BGP4MP / BGP4MP_ET records (RFC 6396 §4.4, RFC 8050) from the MRT files
in shared/data/mrt (gzip or plain), keeps a few hundred BGP messages chosen
for variety, and writes each one as

    5 context bytes ++ the BGP message (16-byte marker included)

into fuzz/corpus/<target>/ for every target. The context bytes are what
`bgp::wire::Context::arbitrary` consumes from the front of the input, one byte
per bool field in declaration order (odd = true):

    four_octet_as, extended_message, add_path.ipv4_unicast,
    add_path.ipv6_unicast, extended_next_hop_ipv4

and are set from the MRT subtype (AS4 subtypes -> four_octet_as, ADDPATH
subtypes -> add_path in both families) and the message length (> 4096 ->
extended_message), so the seeds decode as they did on the wire.

Files are named by the SHA-1 of their content (as libFuzzer names its own), so
re-running adds nothing twice and keeps whatever the fuzzer has already added
to the corpus. Standard library only.
"""

import argparse
import collections
import gzip
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MRT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "mrt"))
TARGETS = ("decode_message", "roundtrip")

MRT_BGP4MP = 16
MRT_BGP4MP_ET = 17
# subtype -> (four-octet AS numbers in the record header, ADD-PATH)
MESSAGE_SUBTYPES = {
    1: (False, False),  # BGP4MP_MESSAGE
    4: (True, False),  # BGP4MP_MESSAGE_AS4
    6: (False, False),  # BGP4MP_MESSAGE_LOCAL
    7: (True, False),  # BGP4MP_MESSAGE_AS4_LOCAL
    8: (False, True),  # BGP4MP_MESSAGE_ADDPATH
    9: (True, True),  # BGP4MP_MESSAGE_AS4_ADDPATH
    10: (False, True),  # BGP4MP_MESSAGE_LOCAL_ADDPATH
    11: (True, True),  # BGP4MP_MESSAGE_AS4_LOCAL_ADDPATH
}
MARKER = b"\xff" * 16


def read_mrt(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def records(raw):
    """Yield (type, subtype, body) for every MRT record."""
    off = 0
    while off + 12 <= len(raw):
        _ts, typ, sub, length = struct.unpack_from(">IHHI", raw, off)
        body = raw[off + 12 : off + 12 + length]
        off += 12 + length
        if len(body) < length:
            break  # truncated capture
        if typ == MRT_BGP4MP_ET:
            body = body[4:]  # microseconds
        yield typ, sub, body


def bgp_messages(raw):
    """Yield (four_octet_as, add_path, message) for every BGP4MP message."""
    for typ, sub, body in records(raw):
        if typ not in (MRT_BGP4MP, MRT_BGP4MP_ET) or sub not in MESSAGE_SUBTYPES:
            continue
        as4, add_path = MESSAGE_SUBTYPES[sub]
        off = 8 if as4 else 4  # peer AS, local AS
        off += 2  # interface index
        if len(body) < off + 2:
            continue
        (afi,) = struct.unpack_from(">H", body, off)
        off += 2
        ip_len = {1: 4, 2: 16}.get(afi)
        if ip_len is None:
            continue
        off += 2 * ip_len  # peer IP, local IP
        msg = body[off:]
        if len(msg) < 19 or msg[:16] != MARKER:
            continue
        yield as4, add_path, msg


def signature(msg):
    """A coarse shape of a message, to keep variety and drop near-duplicates."""
    typ = msg[18]
    if typ == 1 and len(msg) >= 29:  # OPEN: version, optional parameter codes
        return ("open", msg[19], len(msg) > 29)
    if typ == 3 and len(msg) >= 21:  # NOTIFICATION: code, subcode
        return ("notification", msg[19], msg[20])
    if typ != 2:
        return ("type", typ, len(msg) > 19)
    try:
        (wlen,) = struct.unpack_from(">H", msg, 19)
        off = 21 + wlen
        (alen,) = struct.unpack_from(">H", msg, off)
        off += 2
        end = off + alen
        attrs = []
        while off < end:
            flags, code = msg[off], msg[off + 1]
            if flags & 0x10:
                (length,) = struct.unpack_from(">H", msg, off + 2)
                off += 4
            else:
                length = msg[off + 2]
                off += 3
            if code in (14, 15) and length >= 3:  # MP_(UN)REACH_NLRI: AFI/SAFI
                afi, safi = struct.unpack_from(">HB", msg, off)
                attrs.append((code, afi, safi))
            else:
                attrs.append((code, flags & 0xF0))
            off += length
        nlri = len(msg) > end
    except (struct.error, IndexError):
        return ("update-malformed",)
    return ("update", wlen > 0, nlri, tuple(sorted(attrs)), len(msg) > 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mrt-dir", default=os.environ.get("TWILL_MRT_DIR", DEFAULT_MRT_DIR))
    ap.add_argument("--corpus-dir", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--per-shape", type=int, default=3, help="messages kept per (file, shape)")
    ap.add_argument("--max", type=int, default=600, help="at most this many seeds in all")
    ap.add_argument("--clean", action="store_true", help="empty the corpus dirs first")
    args = ap.parse_args()

    if not os.path.isdir(args.mrt_dir):
        sys.exit(f"seed.py: no MRT directory at {args.mrt_dir} (set --mrt-dir or TWILL_MRT_DIR)")

    per_file = {}  # file name -> [(sha1, input bytes)], in capture order
    seen = set()
    for name in sorted(os.listdir(args.mrt_dir)):
        path = os.path.join(args.mrt_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            raw = read_mrt(path)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            print(f"seed.py: skipping {name}: {e}", file=sys.stderr)
            continue
        shapes = collections.Counter()
        kept = per_file.setdefault(name, [])
        for as4, add_path, msg in bgp_messages(raw):
            shape = signature(msg)
            if shapes[shape] >= args.per_shape:
                continue
            shapes[shape] += 1
            ctx = bytes([int(as4), int(len(msg) > 4096), int(add_path), int(add_path), 0])
            data = ctx + msg
            digest = hashlib.sha1(data).hexdigest()
            if digest not in seen:
                seen.add(digest)
                kept.append((digest, data))

    # Cap the total by taking from the files in turn, so small captures (other
    # implementations' quirks) are never crowded out by the big RIS dumps.
    chosen = []
    queues = [collections.deque(v) for v in per_file.values()]
    while len(chosen) < args.max and any(queues):
        for q in queues:
            if q and len(chosen) < args.max:
                chosen.append(q.popleft())
    taken = {d for d, _ in chosen}

    for target in TARGETS:
        d = os.path.join(args.corpus_dir, target)
        os.makedirs(d, exist_ok=True)
        if args.clean:
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
        for digest, data in chosen:
            with open(os.path.join(d, digest), "wb") as f:
                f.write(data)

    for name, kept in per_file.items():
        n = sum(1 for d, _ in kept if d in taken)
        if kept:
            print(f"  {name}: {n} of {len(kept)}")
    print(f"seed.py: wrote {len(chosen)} seeds to {args.corpus_dir}/{{{','.join(TARGETS)}}}")


if __name__ == "__main__":
    main()
