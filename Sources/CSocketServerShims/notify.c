/* The notification sockets of program workers: one Unix datagram socket per worker, in the
   abstract namespace, that tells who sent each message (SCM_CREDENTIALS). */
#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int cssd_notify_socket(char *name, int capacity) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int on = 1;
    struct sockaddr_un address;
    socklen_t length = sizeof(sa_family_t);
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    /* Binding only the family autobinds: the kernel picks a free abstract name. */
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0
        || bind(fd, (struct sockaddr *)&address, length) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0 || length <= offsetof(struct sockaddr_un, sun_path) + 1) {
        int saved = errno ? errno : EINVAL;
        close(fd);
        errno = saved;
        return -1;
    }
    /* "@" for the leading NUL, as NOTIFY_SOCKET writes an abstract name. */
    int count = (int)(length - offsetof(struct sockaddr_un, sun_path)) - 1;
    if (count + 2 > capacity) {
        close(fd);
        errno = ENAMETOOLONG;
        return -1;
    }
    name[0] = '@';
    memcpy(name + 1, address.sun_path + 1, (size_t)count);
    name[count + 1] = 0;
    return fd;
}

long cssd_notify_receive(int fd, char *buffer, long capacity, int *sender) {
    struct iovec part = { .iov_base = buffer, .iov_len = (size_t)capacity };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    } control;
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    ssize_t count;
    do { count = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC); } while (count < 0 && errno == EINTR);
    if (count < 0) return -1;
    *sender = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET) continue;
        if (header->cmsg_type == SCM_CREDENTIALS) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
            *sender = credentials.pid;
        } else if (header->cmsg_type == SCM_RIGHTS) {
            /* Descriptors nobody asked for (sd_notify's FDSTORE=1) are closed. */
            int count_fds = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int index = 0; index < count_fds; index++) {
                int passed;
                memcpy(&passed, CMSG_DATA(header) + index * sizeof(int), sizeof passed);
                close(passed);
            }
        }
    }
    return count > capacity ? capacity : (long)count;
}
