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
 * socketserverd-bench compiles it with `cc -O2` and starts it itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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
    if (argc < 3) {
        fprintf(stderr, "usage: %s tcp PORT [ACCEPTORS] | unix PATH [ACCEPTORS]\n", argv[0]);
        return 2;
    }
    int acceptors = argc > 3 ? atoi(argv[3]) : 2;
    if (acceptors < 1) acceptors = 1;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction action = { .sa_handler = reap, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);
    int listener;
    if (strcmp(argv[1], "tcp") == 0) {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) { perror("bind"); return 1; }
    } else {
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        strncpy(address.sun_path, argv[2], sizeof address.sun_path - 1);
        unlink(argv[2]);
        if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) { perror("bind"); return 1; }
    }
    if (listen(listener, 1024) != 0) { perror("listen"); return 1; }
    for (int i = 1; i < acceptors; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            serve(listener);
        }
    }
    serve(listener);
    return 0;
}
