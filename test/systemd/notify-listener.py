#!/usr/bin/env python3
"""A stand-in for systemd's notification socket, for tests.

Binds an AF_UNIX datagram socket at argv[1] and prints one JSON line per
datagram: {"pid": sender pid, "text": payload, "fds": n}. Descriptors passed
with a datagram (systemd-notify's BARRIER=1 pipe) are closed at once, which
releases the sender, unless argv[2] == "hold": then they are kept open and
the sender waits until it gives up or is killed.
"""
import array, json, os, socket, sys

path, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "release")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
held = []
while True:
    data, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid, fds = None, []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i"); a.frombytes(payload[: len(payload) - len(payload) % a.itemsize]); fds += list(a)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(payload[0:4], sys.byteorder)
    print(json.dumps({"pid": pid, "text": data.decode(), "fds": len(fds)}), flush=True)
    if mode == "hold":
        held += fds
    else:
        for fd in fds:
            os.close(fd)
