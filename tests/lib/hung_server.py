#!/usr/bin/env python3
"""A fake registry that accepts TCP connections and never answers.

A fake, for what a real registry cannot be made to do: hang.  It accepts every connection on
127.0.0.1, reads and discards whatever the client sends (a TLS hello, an HTTP request), and
never writes a byte; connections stay open until the client closes them or this process ends.

Listens on 127.0.0.1 only (--port 0 = any free port); the port is printed on stdout and written
to --port-file.  Each accepted connection is logged to --log as "accept N".
"""

import argparse
import os
import selectors
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append one line per accepted connection here")
    args = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(64)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    log = open(args.log, "a", buffering=1) if args.log else None

    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    accepted = 0
    try:
        while True:
            for key, _ in sel.select():
                if key.fileobj is lsock:
                    conn, _ = lsock.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ)
                    accepted += 1
                    if log:
                        log.write("accept %d\n" % accepted)
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the client gave up: forget the connection
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
