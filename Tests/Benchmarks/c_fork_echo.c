/* c_fork_echo.c: the benchmark's fork-per-connection peer, a minimal C echo server that forks a
 * child for every connection: the honest limit of that model, against which socketserverd's
 * `concurrency = fork` rows are measured.
 *
 * One listening socket (blocking, backlog 1024, as socketserverd), shared by ACCEPTORS processes
 * (default 2, as socketserverd's two workers). Each acceptor loops on accept(2) and forks a child
 * per connection; the child closes the listener, echoes every byte it reads (the load's lines come
 * back as sent) until EOF, and leaves with _exit. The acceptor closes its copy of the connection and
 * reaps its children from a SIGCHLD handler with waitpid(WNOHANG), so none is left a zombie.
 *
 *   usage: c_fork_echo tcp PORT [ACCEPTORS]      (listens on 127.0.0.1:PORT)
 *          c_fork_echo unix PATH [ACCEPTORS]
 *
 * socketserverd-bench compiles it with `cc -O2` (with peer_listener.h beside it) and starts it itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer_listener.h"

static void reap(int number) {
    (void)number;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    errno = saved;
}

/* The child: echo until EOF or an error, then leave without running atexit handlers or flushing. */
static void echo(int client) {
    char buffer[65536];
    for (;;) {
        ssize_t n = recv(client, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t written = 0;
        while (written < n) {
            ssize_t w = send(client, buffer + written, (size_t)(n - written), MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) _exit(1);
            written += w;
        }
    }
    _exit(0);
}

static void serve(int listener) {
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) { usleep(1000); continue; }
            perror("accept4");
            exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(listener);
            echo(client);
        }
        if (pid < 0) perror("fork");
        close(client);
    }
}

int main(int argc, char **argv) {
    int acceptors = peer_arguments(argc, argv, "tcp PORT [ACCEPTORS] | unix PATH [ACCEPTORS]");
    struct sigaction action = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);
    peer_serve(acceptors, peer_listen(argv[1], argv[2], 0), serve);
    return 0;
}
