#!/usr/bin/env python3
"""tls_mux.py — one loopback port that answers both TLS and plain HTTP.

For tests/integration/tls.bats: a registry port whose certificate is wrong
(expired, another name) but which would serve the registry over plain HTTP
if asked.  So a client that falls back to plain HTTP after a TLS failure
*succeeds* here, and a test can tell "refused to fall back" from "fell back
and failed".

Each connection is told apart by its first byte (0x16 starts a TLS
handshake): TLS connections get the handshake with --cert/--key and then a
503 (nothing in the tests should get that far); plain ones are forwarded
byte for byte to --upstream, a plain registry.  One line per connection
goes to --log: "tls handshake failed: <reason>", "tls handshake ok" or
"plain".

    tls_mux.py --cert C --key K --upstream 127.0.0.1:5000 --log FILE --port-file FILE
"""
import argparse
import os
import socket
import ssl
import sys
import threading


def log_line(path, lock, line):
    with lock:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve_plain(conn, upstream):
    host, port = upstream.rsplit(":", 1)
    up = socket.create_connection((host, int(port)), timeout=30)
    up.settimeout(None)
    back = threading.Thread(target=pump, args=(up, conn), daemon=True)
    back.start()
    pump(conn, up)
    back.join(60)
    up.close()


def handle(conn, args, ctx, lock):
    try:
        conn.settimeout(30)
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] != 0x16:
            log_line(args.log, lock, "plain")
            conn.settimeout(None)
            serve_plain(conn, args.upstream)
            return
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log_line(args.log, lock, "tls handshake failed: %s" % e)
            return
        log_line(args.log, lock, "tls handshake ok")
        try:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n")
        except (ssl.SSLError, OSError) as e:
            log_line(args.log, lock, "tls after handshake: %s" % e)
        tls.close()
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.port_file)
    lock = threading.Lock()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, args, ctx, lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
