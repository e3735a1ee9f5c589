#!/usr/bin/env python3
"""A program worker written against the raw socket activation protocol, with no library: the
listening socket is descriptor 3, LISTEN_PID names this process, READY=1 goes to NOTIFY_SOCKET.
For the daemon's program tests.

Serves every socket kind it is given. A stream connection is answered line by line, a datagram
with one datagram: "pid" gets this process's pid, "slow" gets "slow done" after a second, anything
else comes back as it was. TERM stops accepting; connections being served finish, then it exits 0.

Environment: NO_READY=1 never becomes ready: it hangs before serving, as a program stuck in its
start-up does, and never sends READY=1; IGNORE_TERM=1 ignores TERM.
"""
import os
import select
import signal
import socket
import sys
import threading
import time

if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
    sys.exit("not started by socket activation: LISTEN_PID=%s LISTEN_FDS=%s"
             % (os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS")))
listener = socket.socket(fileno=3)
# Every worker of the service shares this socket (and its O_NONBLOCK): each one waits in select
# and takes what is there, if another has not taken it first.
listener.setblocking(False)
stopping = threading.Event()
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())


def answer(data):
    text = data.decode(errors="replace").strip()
    if text == "pid":
        return b"%d\n" % os.getpid()
    if text == "slow":
        time.sleep(1)
        return b"slow done\n"
    return data


def serve(connection):
    with connection, connection.makefile("rb") as lines:
        for line in lines:
            connection.sendall(answer(line))


def notify(message):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as channel:
        channel.sendto(message, address)


if os.environ.get("NO_READY"):
    print("stuck in start-up", flush=True)
    while True:
        time.sleep(60)
print("serving %s as pid %d" % (listener.getsockname(), os.getpid()), flush=True)
notify(b"READY=1")
threads = []
while not stopping.is_set():
    if not select.select([listener], [], [], 0.1)[0]:
        continue
    # A stop signal that ends the interpreter (INT: KeyboardInterrupt) waits until a connection
    # taken is handed to its thread, which the interpreter joins at exit: none is dropped unanswered.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        if listener.type == socket.SOCK_STREAM:
            connection, _ = listener.accept()
            connection.setblocking(True)
            thread = threading.Thread(target=serve, args=(connection,))
            thread.start()
            threads.append(thread)
        else:
            data, peer = listener.recvfrom(65536)
            if peer:
                listener.sendto(answer(data), peer)
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
for thread in threads:
    thread.join()
print("stopped", flush=True)
