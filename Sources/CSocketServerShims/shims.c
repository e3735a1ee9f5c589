#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>

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

int cssd_is_main_thread(void) { return gettid() == getpid(); }

void cssd_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

int cssd_accept_cloexec(int fd, struct sockaddr *addr, unsigned int *len) {
    return accept4(fd, addr, (socklen_t *)len, SOCK_CLOEXEC);
}

int cssd_accept_nonblock(int fd, struct sockaddr *addr, unsigned int *len) {
    return accept4(fd, addr, (socklen_t *)len, SOCK_CLOEXEC | SOCK_NONBLOCK);
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
/* Privileges (Credentials.swift). */
#include <linux/capability.h>
#include <sys/syscall.h>

int cssd_parent_death_signal(void) {
    int sig = 0;
    return prctl(PR_GET_PDEATHSIG, (unsigned long)&sig, 0, 0, 0) == 0 ? sig : -1;
}

int cssd_bounding_capability_drop(int cap) { return prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0); }

int cssd_bounding_capability_read(int cap) { return prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0); }

int cssd_ambient_capabilities_clear(void) {
    return prctl(PR_CAP_AMBIENT, (unsigned long)PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

int cssd_no_new_privileges(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0, 0, 0); }

int cssd_capabilities_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    *effective = (uint64_t)data[1].effective << 32 | data[0].effective;
    *permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    *inheritable = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
    return 0;
}

int cssd_capabilities_clear(void) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

/* The log's shared page (Logger.swift). */
#include <sys/mman.h>

int cssd_sealed_memfd(const char *name, long size) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, size) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Descriptor passing (DescriptorPassing.swift). */

int cssd_socketpair_datagram(int fds[2]) { return socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds); }

int cssd_send_descriptors(int socket, const int *fds, int count) {
    if (count < 1 || count > CSSD_MAX_PASSED) { errno = EINVAL; return -1; }
    char byte = 'F';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr align; char buffer[CMSG_SPACE(sizeof(int) * CSSD_MAX_PASSED)]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = CMSG_SPACE(sizeof(int) * count) };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent == 1 ? 0 : -1;
}

int cssd_receive_descriptors(int socket, int *fds, int max) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr align; char buffer[CMSG_SPACE(sizeof(int) * CSSD_MAX_PASSED)]; } control;
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = sizeof control.buffer };
    ssize_t got;
    do { got = recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); } while (got < 0 && errno == EINTR);
    if (got < 0) return -1;
    int taken = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
            if (taken < max) fds[taken++] = fd; else close(fd);
        }
    }
    if (message.msg_flags & MSG_CTRUNC) {
        for (int i = 0; i < taken; i++) close(fds[i]);
        errno = EBADMSG;
        return -1;
    }
    return taken;
}

int cssd_setresuid(unsigned int real, unsigned int effective, unsigned int saved) {
    return setresuid(real, effective, saved);
}
