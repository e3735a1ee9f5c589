#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <unistd.h>

int cssd_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0); }

int cssd_set_child_subreaper(int on) { return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0, 0, 0); }

int cssd_thread_count(void) {
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Threads:", 8) == 0) { sscanf(line + 8, "%d", &n); break; }
    }
    fclose(f);
    return n;
}

int cssd_accept_cloexec(int fd, struct sockaddr *addr, unsigned int *len) {
    return accept4(fd, addr, (socklen_t *)len, SOCK_CLOEXEC);
}

int cssd_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int cssd_pipe_cloexec(int fds[2], int nonblock) { return pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)); }

int64_t cssd_atomic_load64(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }

void cssd_atomic_store64(int64_t *p, int64_t value) { __atomic_store_n(p, value, __ATOMIC_SEQ_CST); }

int cssd_atomic_cas64(int64_t *p, int64_t expected, int64_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

int64_t cssd_atomic_add64(int64_t *p, int64_t delta) { return __atomic_add_fetch(p, delta, __ATOMIC_SEQ_CST); }

int cssd_dup_cloexec(int old, int new_fd) { return dup3(old, new_fd, O_CLOEXEC); }

#include <sys/epoll.h>

int cssd_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cssd_epoll_ctl(int epoll, int op, int fd, unsigned int events, uint64_t tag) {
    struct epoll_event event = { .events = events, .data.u64 = tag };
    int operation = op == 0 ? EPOLL_CTL_ADD : op == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    return epoll_ctl(epoll, operation, fd, &event);
}

int cssd_epoll_wait(int epoll, uint64_t *tags, unsigned int *events, int max, int timeout_ms) {
    struct epoll_event ready[256];
    if (max > 256) max = 256;
    int count = epoll_wait(epoll, ready, max, timeout_ms);
    for (int i = 0; i < count; i++) {
        tags[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

#include <signal.h>

int cssd_sigrtmin(void) { return SIGRTMIN; }

int cssd_sigrtmax(void) { return SIGRTMAX; }
