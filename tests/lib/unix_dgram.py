#!/usr/bin/env python3
"""A unix datagram socket a test owns, standing in for /dev/log or systemd's NOTIFY_SOCKET.

Binds --socket PATH (a path in the test's own directory), creates --ready-file once it is
bound, and appends every datagram it receives to --out as one JSON line:
  {"pid": SENDER_PID, "uid": SENDER_UID, "data": "THE TEXT", "mount": {...}}
The sender's pid and uid come from the kernel (SO_PASSCRED), not from the message.

With --check-mount MNT, a datagram that holds the line READY=1 (sd_notify's readiness) makes
the listener look at MNT before it reads anything else, and record what it saw under "mount":
  {"mountpoint": true if `mountpoint -q MNT` succeeded,
   "fstype": MNT's type in /proc/self/mountinfo (null when MNT is no mount point),
   "entries": the names in MNT (null, with "error", when it cannot be listed)}
so a test can tell whether the mount already answered when readiness was announced.

Exits after --seconds (a deadline, so it never outlives its test), or after a datagram with
the line STOPPING=1 when --until-stopping is given.
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time


def mount_type(mnt):
    """The filesystem type of the mount at MNT in /proc/self/mountinfo, or None."""
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) > 4 and fields[4] == mnt:
                found = right.split()[0]  # the last mount on MNT is the one seen
    return found


def look_at(mnt):
    seen = {"mountpoint": subprocess.run(["mountpoint", "-q", mnt]).returncode == 0,
            "fstype": mount_type(mnt), "entries": None}
    try:
        seen["entries"] = sorted(os.listdir(mnt))
    except OSError as e:
        seen["error"] = str(e)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--check-mount")
    ap.add_argument("--until-stopping", action="store_true")
    opts = ap.parse_args()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(opts.socket)
    os.chmod(opts.socket, 0o666)  # syslog() of any user may write, as to /dev/log
    open(opts.ready_file, "w").close()
    deadline = time.monotonic() + opts.seconds
    creds_len = socket.CMSG_SPACE(struct.calcsize("3i"))
    with open(opts.out, "a", encoding="utf-8") as out:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return 0
            sock.settimeout(left)
            try:
                data, anc, _, _ = sock.recvmsg(65536, creds_len)
            except socket.timeout:
                return 0
            rec = {"pid": None, "uid": None, "data": data.decode("utf-8", "replace")}
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    rec["pid"], rec["uid"], _ = struct.unpack("3i", payload[:12])
            lines = rec["data"].split("\n")
            if opts.check_mount and "READY=1" in lines:
                rec["mount"] = look_at(opts.check_mount)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            if opts.until_stopping and "STOPPING=1" in lines:
                return 0


if __name__ == "__main__":
    sys.exit(main())
