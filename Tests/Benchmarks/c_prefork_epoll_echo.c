/* c_prefork_epoll_echo.c: the benchmark's reference, a minimal pre-fork epoll echo server.
 *
 * One listening socket, then fork: WORKERS processes (default 2) share it, each with its own epoll
 * set in which the listener is registered with EPOLLEXCLUSIVE (one process woken per connection).
 * Each process accepts until EAGAIN and echoes every byte back (level-triggered, non-blocking);
 * a short write keeps the rest and waits for EPOLLOUT. No threads, no allocation per read.
 *
 *   usage: c_prefork_epoll_echo tcp PORT [WORKERS]      (listens on 127.0.0.1:PORT)
 *          c_prefork_epoll_echo unix PATH [WORKERS]
 *          c_prefork_epoll_echo fd 3 1      (a socket passed already listening: as a socketserverd
 *                                           program worker, one process per worker)
 *
 * socketserverd-bench compiles it with `cc -O2` and starts it itself. Backlog 1024, as socketserverd.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer_listener.h"

#define BUFFER_SIZE 65536
#define MAX_FDS 65536

/* Bytes not yet written back, per descriptor (only after a short write). */
struct pending { char *data; size_t length, offset; };
static struct pending pending[MAX_FDS];
static char buffer[BUFFER_SIZE];

static void drop(int epoll, int fd) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(pending[fd].data);
    pending[fd].data = NULL;
    pending[fd].length = pending[fd].offset = 0;
}

static void watch(int epoll, int fd, unsigned events, int op) {
    struct epoll_event event = { .events = events, .data.fd = fd };
    epoll_ctl(epoll, op, fd, &event);
}

/* Writes what is pending; 1 when all of it is out, 0 when the socket is full, -1 on error. */
static int flush_pending(int fd) {
    struct pending *p = &pending[fd];
    while (p->offset < p->length) {
        ssize_t n = send(fd, p->data + p->offset, p->length - p->offset, MSG_NOSIGNAL);
        if (n > 0) { p->offset += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    free(p->data);
    p->data = NULL;
    p->length = p->offset = 0;
    return 1;
}

static void serve(int listener) {
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) { perror("epoll_create1"); exit(1); }
    watch(epoll, listener, EPOLLIN | EPOLLEXCLUSIVE, EPOLL_CTL_ADD);
    struct epoll_event events[256];
    for (;;) {
        int count = epoll_wait(epoll, events, 256, -1);
        if (count < 0) { if (errno == EINTR) continue; perror("epoll_wait"); exit(1); }
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0) {
                        if (errno == EINTR || errno == ECONNABORTED) continue;
                        break; /* EAGAIN: another process took it, or the queue is empty */
                    }
                    if (client >= MAX_FDS) { close(client); continue; }
                    watch(epoll, client, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            if (pending[fd].data) {  /* waiting for room to write the rest */
                int done = flush_pending(fd);
                if (done < 0) drop(epoll, fd);
                else if (done > 0) watch(epoll, fd, EPOLLIN, EPOLL_CTL_MOD);
                continue;
            }
            ssize_t n = recv(fd, buffer, sizeof buffer, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            if (n <= 0) { drop(epoll, fd); continue; }
            ssize_t written = 0;
            while (written < n) {
                ssize_t w = send(fd, buffer + written, (size_t)(n - written), MSG_NOSIGNAL);
                if (w > 0) { written += w; continue; }
                if (w < 0 && errno == EINTR) continue;
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                written = -1;
                break;
            }
            if (written < 0) { drop(epoll, fd); continue; }
            if (written < n) {
                pending[fd].length = (size_t)(n - written);
                pending[fd].offset = 0;
                pending[fd].data = malloc(pending[fd].length);
                memcpy(pending[fd].data, buffer + written, pending[fd].length);
                watch(epoll, fd, EPOLLOUT, EPOLL_CTL_MOD);
            }
        }
    }
}

int main(int argc, char **argv) {
    int workers = peer_arguments(argc, argv, "tcp PORT [WORKERS] | unix PATH [WORKERS] | fd FD [WORKERS]");
    int listener;
    if (strcmp(argv[1], "fd") == 0) {
        /* A socket already listening, such as socketserverd's program workers get as descriptor 3. */
        listener = atoi(argv[2]);
        if (fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK) != 0) { perror("fcntl"); return 1; }
    } else {
        listener = peer_listen(argv[1], argv[2], SOCK_NONBLOCK);
    }
    peer_serve(workers, listener, serve);
    return 0;
}
