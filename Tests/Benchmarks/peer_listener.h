/* peer_listener.h: what the benchmark's C servers share: their arguments, their listening socket,
 * on 127.0.0.1:PORT or a Unix path, with a backlog of 1024 (as socketserverd's), and the processes
 * that serve it. */
#ifndef PEER_LISTENER_H
#define PEER_LISTENER_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Checks the arguments (KIND WHERE [PROCESSES]; exits 2 with `usage` when there are too few),
 * ignores SIGPIPE, and returns PROCESSES (default 2, at least 1). */
static int peer_arguments(int argc, char **argv, const char *usage) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s %s\n", argv[0], usage);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    int processes = argc > 3 ? atoi(argv[3]) : 2;
    return processes < 1 ? 1 : processes;
}

/* Listens on `kind` "tcp" (`where` is the port) or "unix" (`where` is the path, replaced if it
 * exists); `flags` are added to the socket's type (SOCK_NONBLOCK). Exits with a message on failure. */
static int peer_listen(const char *kind, const char *where, int flags) {
    int listener;
    if (strcmp(kind, "tcp") == 0) {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
        int one = 1;
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(where)) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) { perror("bind"); exit(1); }
    } else {
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        strncpy(address.sun_path, where, sizeof address.sun_path - 1);
        unlink(where);
        if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) { perror("bind"); exit(1); }
    }
    if (listen(listener, 1024) != 0) { perror("listen"); exit(1); }
    return listener;
}

/* Runs serve(listener) in `processes` processes: this one and processes - 1 children, each of
 * which the kernel kills when this one dies. */
static void peer_serve(int processes, int listener, void (*serve)(int)) {
    for (int i = 1; i < processes; i++) {
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            serve(listener);
            exit(0);
        }
    }
    serve(listener);
}
#endif
