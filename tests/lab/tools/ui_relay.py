#!/usr/bin/env python3
"""Relays a TCP port of the host into a lab namespace, so the host's browser reaches the
lab CPE's web UI: `ui_relay.py LISTEN_IP:PORT NETNS TARGET_IP:PORT`.

Each accepted connection gets a thread that enters NETNS (setns(2) acts on the calling
thread only, so the listener stays in the host's namespace) and connects to TARGET from
there, as a LAN client would; then bytes are copied both ways until either side closes.
TLS passes through untouched: the browser talks to cats-cpe end to end.
Started by `cats-lab up` (tests/lab/catslab/lab.py), stopped by `cats-lab down`."""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {name}: {os.strerror(e)}")
    finally:
        os.close(fd)


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close: the other direction may still be sending (TLS close_notify).
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client: socket.socket, netns: str, target: tuple[str, int]) -> None:
    try:
        enter_netns(netns)
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError as e:
        print(f"ui_relay: {target[0]}:{target[1]} in {netns}: {e}", file=sys.stderr, flush=True)
        client.close()
        return
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def split(hp: str) -> tuple[str, int]:
    host, _, port = hp.rpartition(":")
    return host.strip("[]"), int(port)


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    listen, netns, target = split(sys.argv[1]), sys.argv[2], split(sys.argv[3])
    srv = socket.create_server(listen, reuse_port=False)
    print(f"ui_relay: {listen[0]}:{listen[1]} -> {target[0]}:{target[1]} in {netns}", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, netns, target), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
