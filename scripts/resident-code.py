#!/usr/bin/env python3
"""Which code of an executable is resident in a live process, and what one process has that
another does not (used for the client-memory part of benches/turn_overhead.rs).

Usage:
  scripts/resident-code.py snapshot PID OUT.json
      resident pages of PID's executable mappings (/proc/PID/pagemap; run as root or as the
      process's owner) and the Rss of every mapping (/proc/PID/smaps)
  scripts/resident-code.py diff EXE A.json B.json [N]
      text pages resident in A and not in B, by symbol (nm -C; EXE must be the binary both
      snapshots ran), the N largest groups; then Rss per mapping, A against B

Typical: `RSS_ONLY=1 RSS_HOLD_SECS=5 target/release/deps/turn_overhead-* --bench` and, while a
`--rss-child sdk|bare` child holds, `snapshot` it. The kernel maps file pages 64 KiB around each
fault (fault-around), so a page is resident when code within its 64 KiB window ran.
Python 3 stdlib only, plus binutils (nm, readelf).
"""
import bisect
import collections
import json
import os
import re
import struct
import subprocess
import sys


def snapshot(pid, out):
    exe = os.readlink(f"/proc/{pid}/exe")
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == exe:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                maps.append((start, end, parts[1], int(parts[2], 16)))
    rss, cur = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                p = line.split()
                cur = (p[5] if len(p) > 5 else "[anon]") + " " + p[1]
            elif line.startswith("Rss:") and cur:
                rss[cur] = rss.get(cur, 0) + int(line.split()[1])
    present = []
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for start, end, perms, offset in maps:
            n = (end - start) // 4096
            pm.seek((start // 4096) * 8)
            data = pm.read(n * 8)
            for i in range(n):
                if struct.unpack_from("<Q", data, i * 8)[0] >> 63 & 1:
                    present.append((perms, offset + i * 4096))
    with open(out, "w") as f:
        json.dump({"exe": exe, "present": present, "rss_kib": rss}, f)
    print(f"{len(present)} resident pages of {exe}")


def diff(exe, a_path, b_path, top):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    loads = []
    for line in subprocess.run(["readelf", "-lW", exe], capture_output=True, text=True).stdout.splitlines():
        p = line.split()
        if p and p[0] == "LOAD":
            loads.append((int(p[1], 16), int(p[2], 16), int(p[4], 16)))

    def text_pages(snap):
        pages = set()
        for perms, off in snap["present"]:
            if "x" not in perms:
                continue
            for f_off, vaddr, size in loads:
                if f_off <= off < f_off + size:
                    pages.add((vaddr + off - f_off) // 4096)
        return pages

    pa, pb = text_pages(a), text_pages(b)
    only = pa - pb
    print(f"text pages resident: A {len(pa)} ({len(pa) * 4 / 1024:.2f} MiB), B {len(pb)} "
          f"({len(pb) * 4 / 1024:.2f} MiB); in A only: {len(only)} ({len(only) * 4 / 1024:.2f} MiB)")
    groups = collections.Counter()
    nm = subprocess.run(["nm", "-n", "-S", "--defined-only", "-C", exe], capture_output=True, text=True).stdout
    for line in nm.splitlines():
        p = line.split(" ", 3)
        if len(p) != 4 or p[2] not in "tTwW":
            continue
        addr, size, name = int(p[0], 16), int(p[1], 16), p[3]
        inside = 0
        for page in range(addr // 4096, (addr + max(size, 1) - 1) // 4096 + 1):
            if page in only:
                inside += min(addr + size, page * 4096 + 4096) - max(addr, page * 4096)
        if inside > 0:
            name = re.sub(r"::h[0-9a-f]{16}$", "", name)
            m = re.search(r"(codex_runtime_protocol::generated::types::\w+|codex_runtime::[\w:]+|codex_hooks::\w+)", name)
            groups[m.group(1) if m else name[:100]] += inside
    for name, size in groups.most_common(top):
        print(f"{size / 1024:8.1f} KiB  {name}")
    print("Rss per mapping (KiB), A then B:")
    keys = sorted(set(a["rss_kib"]) | set(b["rss_kib"]), key=lambda k: -a["rss_kib"].get(k, 0))
    for k in keys:
        ra, rb = a["rss_kib"].get(k, 0), b["rss_kib"].get(k, 0)
        if ra or rb:
            print(f"  {k[-70:]:70s} {ra:6d} {rb:6d}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "snapshot":
        snapshot(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 40)
    else:
        sys.exit(__doc__)
