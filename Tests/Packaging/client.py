#!/usr/bin/env python3
"""Clients for package-test.sh, run inside the systemd sandbox (it has only lo).

  client.py defaults             the shipped config: echo tcp+udp 7007, daytime 7013, upper 7010
  client.py echo PORT            one TCP echo round trip
  client.py upper PORT           one TCP upper round trip
  client.py greet PORT           the example plugin's greet.hello with greeting "hi there"
  client.py refused PORT         nothing listens on PORT
  client.py upload PORT NAME     stores NAME (5,200 bytes) with the upload protocol; expects OK
  client.py loop PORT STOPFILE   echo round trips on new connections until STOPFILE exists;
                                 creates STOPFILE.running after the first good one (the loop
                                 is under way); prints "requests=N failures=M" and exits 1 on
                                 any failure
Each check prints one line and exits 0 on success, 1 otherwise.
"""
import os
import socket
import sys
import time

HOST = "127.0.0.1"


def round_trip(port, message, timeout=5.0):
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(message)
        received = b""
        while len(received) < len(message):
            chunk = s.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def expect(condition, what):
    print(("ok: " if condition else "FAILED: ") + what)
    return condition


def defaults():
    good = True
    got = round_trip(7007, b"hello socketserverd\n")
    good &= expect(got == b"hello socketserverd\n", "echo tcp://127.0.0.1:7007 -> %r" % got)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(b"datagram", (HOST, 7007))
        data, _ = u.recvfrom(100)
    good &= expect(data == b"datagram", "echo udp://127.0.0.1:7007 -> %r" % data)
    with socket.create_connection((HOST, 7013), timeout=5) as s:
        line = s.makefile("rb").read()
    good &= expect(line.endswith(b"\r\n") and len(line) > 10, "daytime tcp://127.0.0.1:7013 -> %r" % line)
    got = round_trip(7010, b"make me loud\n")
    good &= expect(got == b"MAKE ME LOUD\n", "upper tcp://127.0.0.1:7010 -> %r" % got)
    return good


def loop(port, stop_file):
    requests = failures = 0
    first_error = None
    running = False
    while not os.path.exists(stop_file):
        message = b"ping %d\n" % requests
        try:
            if round_trip(port, message) != message:
                raise RuntimeError("wrong reply")
            if not running:
                open(stop_file + ".running", "w").close()
                running = True
        except Exception as error:  # a refused, reset or wrong answer is a failed request
            failures += 1
            first_error = first_error or repr(error)
        requests += 1
        time.sleep(0.005)
    print("requests=%d failures=%d%s" % (requests, failures, " first_error=" + first_error if first_error else ""))
    return failures == 0 and requests > 0


def upload(port, name):
    body = b"stored by package-test.sh\n" * 200
    header = b'{"cmd":"put","filename":"%s","filesize":%d}' % (name.encode(), len(body))
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(len(header).to_bytes(4, "little") + header + body)
        s.shutdown(socket.SHUT_WR)
        reply = s.makefile("rb").readline()
    return expect(reply.startswith(b"OK "), "upload %s (%d bytes) to tcp://127.0.0.1:%d -> %r" % (name, len(body), port, reply))


def main(argv):
    command = argv[1]
    if command == "defaults":
        return defaults()
    port = int(argv[2])
    if command == "echo":
        got = round_trip(port, b"echo me\n")
        return expect(got == b"echo me\n", "echo tcp://127.0.0.1:%d -> %r" % (port, got))
    if command == "upper":
        got = round_trip(port, b"added by reload\n")
        return expect(got == b"ADDED BY RELOAD\n", "upper tcp://127.0.0.1:%d -> %r" % (port, got))
    if command == "greet":
        got = round_trip(port, b"Debian\n")
        return expect(got == b"hi there, Debian!\n", "greet.hello tcp://127.0.0.1:%d -> %r" % (port, got))
    if command == "refused":
        try:
            socket.create_connection((HOST, port), timeout=5).close()
        except ConnectionRefusedError:
            return expect(True, "nothing listens on 127.0.0.1:%d" % port)
        return expect(False, "nothing listens on 127.0.0.1:%d (something accepted)" % port)
    if command == "loop":
        return loop(port, argv[3])
    if command == "upload":
        return upload(port, argv[3])
    raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    try:
        sys.exit(0 if main(sys.argv) else 1)
    except (OSError, ValueError) as error:
        print("FAILED: %s %r" % (" ".join(sys.argv[1:]), error))
        sys.exit(1)
