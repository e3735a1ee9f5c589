"""Python's socketserver handlers, run unchanged as socketserverd program workers.

    import socketserver, socketserverd

    class Upper(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(line.upper())

    socketserverd.serve(socketserver.ThreadingTCPServer, Upper, address=("127.0.0.1", 9999))

Started by socketserverd (``handler = program``) or by systemd's socket activation, ``serve``
builds the server around the inherited listening socket (descriptor 3, of any family and type;
``server_address`` is the socket's own), sends READY=1 when NOTIFY_SOCKET is set, turns SIGTERM
into a graceful ``shutdown()`` (requests in flight finish; threads are joined) and returns after
``server_close()``. Run by hand, it binds ``address`` itself: the same program runs in development
and in production. Only the standard library is used.
"""
import os
import signal
import socket
import threading

__all__ = ["serve", "inherited_socket", "notify"]
__version__ = "1.0.0"

# The first descriptor socket activation passes (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3


def inherited_socket():
    """The listening socket passed by socket activation, or None when there is none for this
    process (LISTEN_PID names another one, or LISTEN_FDS is unset). The variables are removed, so
    that the programs this one starts do not take the socket for theirs."""
    pid = os.environ.pop("LISTEN_PID", None)
    count = os.environ.pop("LISTEN_FDS", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if pid != str(os.getpid()) or not count or int(count) < 1:
        return None
    sock = socket.socket(fileno=LISTEN_FDS_START)
    os.set_inheritable(sock.fileno(), False)
    return sock


def notify(state):
    """Sends `state` ("READY=1", "STOPPING=1", "STATUS=…") to NOTIFY_SOCKET, if it is set;
    returns whether it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as channel:
        channel.sendto(state.encode() if isinstance(state, str) else state, address)
    return True


def _around(server_class, handler_class, sock):
    """An instance of `server_class` serving on `sock` instead of a socket of its own."""
    if sock.type != server_class.socket_type:
        sock.close()
        raise ValueError("%s serves %s sockets, but the inherited socket is %s"
                         % (server_class.__name__, server_class.socket_type.name, sock.type.name))
    server = server_class(sock.getsockname(), handler_class, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.address_family = sock.family
    server.server_address = sock.getsockname()
    # Every worker of the service waits on this socket; the one that loses the race for a
    # connection (or datagram) must go back to waiting, not block in accept (or recvfrom).
    sock.setblocking(False)
    return server


def serve(server_class, handler_class, address=None, poll_interval=0.5):
    """Serves `handler_class` with `server_class` (a socketserver server class such as
    ThreadingTCPServer) until SIGTERM, then shuts down gracefully; returns the closed server.

    Under socket activation the server uses the inherited socket; otherwise it binds `address`
    (which is then required)."""
    sock = inherited_socket()
    if sock is not None:
        server = _around(server_class, handler_class, sock)
    elif address is None:
        raise ValueError("not started by socketserverd or systemd, and no address to bind")
    else:
        server = server_class(address, handler_class)

    def stop(_signal, _frame):
        notify("STOPPING=1")
        # shutdown() waits for serve_forever to return: it must not run on the thread that
        # serves (the signal handler interrupts that thread).
        threading.Thread(target=server.shutdown, name="socketserverd-shutdown", daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        notify("READY=1")
        try:
            server.serve_forever(poll_interval=poll_interval)
        except KeyboardInterrupt:
            pass
        # Threads (ThreadingMixIn) are joined and children (ForkingMixIn) waited for: the
        # requests in flight have finished when this returns.
        server.server_close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return server
