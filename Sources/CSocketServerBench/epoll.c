// epoll helpers for socketserverd-bench's load generator.
#include "CSocketServerBench.h"

int cssb_epoll_add(int epoll, int fd, unsigned int events, unsigned long long data) {
    struct epoll_event event = { .events = events, .data.u64 = data };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}
