/* accept_strategies.c: how two pre-forked processes should wait on one shared listener.
 *
 * A sync echo server (one connection at a time per process, like socketserverd's `sync` workers)
 * with three ways to wait for the next connection:
 *   poll       non-blocking listener, poll() then accept4() — what SocketServer's BaseServer does;
 *              every waiting process wakes for each connection (thundering herd)
 *   exclusive  epoll with EPOLLEXCLUSIVE on the listener: the kernel wakes one waiter
 *   blocking   blocking accept4(): waiters queue exclusively in the kernel, one is woken
 * Used by hand for the profile in Tests/Benchmarks/README.md (not by the benchmark):
 *   cc -O2 -o /tmp/accept_strategies Tests/Benchmarks/accept_strategies.c
 *   /tmp/accept_strategies poll|exclusive|blocking PORT
 * then load it and count context switches per connection, e.g. with
 *   perf stat -e context-switches -p PIDS  while  socketserverd-bench --load --target tcp:PORT --mode conn --clients 1
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void echo(int fd) {
    char buffer[16384];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        if (send(fd, buffer, (size_t)n, MSG_NOSIGNAL) != n) break;
    }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s poll|exclusive|blocking PORT\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int blocking = strcmp(argv[1], "blocking") == 0, exclusive = strcmp(argv[1], "exclusive") == 0;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
        perror("bind/listen");
        return 1;
    }
    if (fork() == 0) prctl(PR_SET_PDEATHSIG, SIGKILL);
    int epoll = -1;
    if (exclusive) {
        epoll = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event event = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listener };
        epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    }
    for (;;) {
        if (!blocking) {
            if (exclusive) {
                struct epoll_event event;
                if (epoll_wait(epoll, &event, 1, 1000) <= 0) continue;
            } else {
                struct pollfd entry = { .fd = listener, .events = POLLIN };
                if (poll(&entry, 1, 1000) <= 0) continue;
            }
        }
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) continue;  /* EAGAIN: the other process took it */
        int nodelay = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
        echo(client);
    }
}
