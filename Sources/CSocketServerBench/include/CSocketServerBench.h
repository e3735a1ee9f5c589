#ifndef CSOCKETSERVER_BENCH_H
#define CSOCKETSERVER_BENCH_H
/* What socketserverd-bench's load generator needs beyond Swift's Glibc module: epoll. */
#include <sys/epoll.h>

/* epoll_event is packed on x86-64; these read it without Swift caring about the layout. */
static inline unsigned int cssb_event_flags(const struct epoll_event *event) { return event->events; }
static inline unsigned long long cssb_event_data(const struct epoll_event *event) { return event->data.u64; }
/* Registers `fd` for `events` with `data` as its tag. */
int cssb_epoll_add(int epoll, int fd, unsigned int events, unsigned long long data);
#endif
