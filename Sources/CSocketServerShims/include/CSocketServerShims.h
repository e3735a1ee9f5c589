#ifndef CSOCKETSERVER_SHIMS_H
#define CSOCKETSERVER_SHIMS_H
/* Thin wrappers over libc calls Swift cannot call directly (variadic or macro-only). */

/* prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` to this process when its parent dies. */
int cssd_set_parent_death_signal(int sig);
/* prctl(PR_SET_CHILD_SUBREAPER, on): orphaned descendants are re-parented to this process. */
int cssd_set_child_subreaper(int on);
/* Number of threads of the calling process (from /proc/self/stat), or -1. */
int cssd_thread_count(void);
/* 1 on the process's main thread (its thread id is the pid), 0 on any other. */
int cssd_is_main_thread(void);
/* Makes stdout line-buffered (Swift 6 cannot name the C global `stdout` safely). */
void cssd_line_buffer_stdout(void);
/* accept4(2) with SOCK_CLOEXEC (needs _GNU_SOURCE, which Swift's Glibc module does not define). */
struct sockaddr;
int cssd_accept_cloexec(int fd, struct sockaddr *addr, unsigned int *len);
/* accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK: for an event loop, one system call fewer per connection. */
int cssd_accept_nonblock(int fd, struct sockaddr *addr, unsigned int *len);
/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a counter poll(2) can wait on. */
int cssd_eventfd(void);
/* pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)). */
int cssd_pipe_cloexec(int fds[2], int nonblock);
/* Sequentially consistent 64-bit atomics on plain memory (shared mappings between processes). */
#include <stdint.h>
int64_t cssd_atomic_load64(const int64_t *p);
void cssd_atomic_store64(int64_t *p, int64_t value);
int cssd_atomic_cas64(int64_t *p, int64_t expected, int64_t desired);
/* Adds `delta` (sequentially consistent); returns the new value. */
int64_t cssd_atomic_add64(int64_t *p, int64_t delta);

/* dup3(old, new, O_CLOEXEC): replaces `new` without a moment in which it lacks close-on-exec. */
int cssd_dup_cloexec(int old, int new_fd);

/* epoll for EventLoopMixIn (Swift's Glibc module leaves sys/epoll.h out). The event flags below
   are the kernel's EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP and EPOLLEXCLUSIVE (a
   listener several processes watch wakes one of them per connection, not all). */
#define CSSD_EPOLLIN 0x001u
#define CSSD_EPOLLOUT 0x004u
#define CSSD_EPOLLERR 0x008u
#define CSSD_EPOLLHUP 0x010u
#define CSSD_EPOLLRDHUP 0x2000u
#define CSSD_EPOLLEXCLUSIVE (1u << 28)
/* epoll_create1(EPOLL_CLOEXEC). */
int cssd_epoll_create(void);
/* epoll_ctl: op 0 adds, 1 modifies, 2 deletes `fd`, with `events` and `tag` (the event's data.u64). */
int cssd_epoll_ctl(int epoll, int op, int fd, unsigned int events, uint64_t tag);
/* epoll_wait into two plain arrays (epoll_event is packed on x86-64): up to `max` events, their
   tags and flags; returns the count, or -1 with errno (EINTR included). */
int cssd_epoll_wait(int epoll, uint64_t *tags, unsigned int *events, int max, int timeout_ms);

/* memfd_create(name, MFD_CLOEXEC): anonymous memory with a descriptor, so that a mapping can be
   handed to a new program image (the master's binary upgrade). */
int cssd_memfd_cloexec(const char *name);

/* Process titles (proctitle.c). The process's argument and environment strings are copied to the
   heap before main; the title then goes where they were, so /proc/PID/cmdline and ps show it.
   /proc/PID/comm is left alone. Returns 0, or -1 when the area could not be set up. */
int cssd_set_process_title(const char *title);
/* The arguments the process started with (argv[0] included), unchanged by any title. */
int cssd_original_argc(void);
const char *cssd_original_argv(int index);

/* SIGRTMIN and SIGRTMAX (macros calling into libc, which Swift cannot import). */
int cssd_sigrtmin(void);
int cssd_sigrtmax(void);
/* Privileges, for a worker that becomes the configured user (capabilities(7)). */
/* prctl(PR_GET_PDEATHSIG): the parent-death signal in force (0: none), or -1. */
int cssd_parent_death_signal(void);
/* prctl(PR_CAPBSET_DROP, cap): removes `cap` from the bounding set (needs CAP_SETPCAP). */
int cssd_bounding_capability_drop(int cap);
/* prctl(PR_CAPBSET_READ, cap): 1 if `cap` is in the bounding set, 0 if not, -1 (EINVAL) past the last. */
int cssd_bounding_capability_read(int cap);
/* prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL). */
int cssd_ambient_capabilities_clear(void);
/* prctl(PR_SET_NO_NEW_PRIVS, 1): execve never grants privileges again (set-user-ID, file capabilities). */
int cssd_no_new_privileges(void);
/* capget(2) (no glibc wrapper): this thread's effective, permitted and inheritable sets. */
int cssd_capabilities_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
/* capset(2) (no glibc wrapper) with every set empty. */
int cssd_capabilities_clear(void);
/* setresuid(2) (needs _GNU_SOURCE): real, effective and saved user ids. */
int cssd_setresuid(unsigned int real, unsigned int effective, unsigned int saved);

/* memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) of `size` bytes, sealed against shrinking and
   growing (no process sharing it can make another's accesses fault); -1 with errno. */
int cssd_sealed_memfd(const char *name, long size);

/* Descriptor passing over AF_UNIX datagram sockets (SCM_RIGHTS; the CMSG macros are C only). */
/* socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC). */
int cssd_socketpair_datagram(int fds[2]);
/* The most descriptors one datagram carries. */
#define CSSD_MAX_PASSED 4
/* Sends `count` descriptors (1 to CSSD_MAX_PASSED) in one one-byte datagram without blocking
   (MSG_DONTWAIT); 0, or -1 with errno. */
int cssd_send_descriptors(int socket, const int *fds, int count);
/* Takes the next datagram without blocking and stores the descriptors it carried in `fds`
   (close-on-exec; beyond `max` they are closed); returns how many (0 for a datagram without
   any), or -1 with errno (EAGAIN: none waiting; EBADMSG: more than fit, all closed). */
int cssd_receive_descriptors(int socket, int *fds, int max);

/* Starting a program worker (program.c): what the forked child needs, prepared by the master
   before the fork, so that the child only makes system calls. */
#define CSSD_PROGRAM_STAGE_CREDENTIALS 1
#define CSSD_PROGRAM_STAGE_GROUP 2
#define CSSD_PROGRAM_STAGE_DESCRIPTORS 3
#define CSSD_PROGRAM_STAGE_DIRECTORY 4
#define CSSD_PROGRAM_STAGE_EXEC 5
/* The room `listen_pid_slot` needs: "LISTEN_PID=" and any pid. */
#define CSSD_LISTEN_PID_SLOT 40
struct cssd_program_launch {
    const char *path;
    char *const *argv;
    /* Ends with NULL; one entry is `listen_pid_slot`, which the child fills with its own pid. */
    char *const *envp;
    char *listen_pid_slot;
    const char *directory;
    /* Become 3, 0, and 1 and 2; the status pipe's write end is close-on-exec. */
    int listen_fd;
    int input_fd;
    int output_fd;
    int status_fd;
    /* The parent-death signal (0: none), and the master's pid to check it against. */
    int death_signal;
    int master_pid;
    int failure_status;
};
/* In the child: its own process group, descriptors 0-3 only, the working directory, LISTEN_PID,
   every signal at its default and unblocked, then execve. Never returns: on failure it writes
   {stage, errno} (two ints) to the status pipe and exits with `failure_status`. */
_Noreturn void cssd_program_exec(const struct cssd_program_launch *launch);
/* Writes {stage, error} to a program's status pipe (for a failure before cssd_program_exec). */
void cssd_program_report(int status_fd, int stage, int error);
/* A program worker's notification socket (notify.c): an abstract Unix datagram socket
   (close-on-exec, non-blocking, SO_PASSCRED) with a name the kernel picks; writes its
   NOTIFY_SOCKET spelling ("@name") into `name`. The descriptor, or -1 with errno. */
int cssd_notify_socket(char *name, int capacity);
/* Takes one waiting datagram (truncated to `capacity`): its length, or -1 with errno (EAGAIN:
   none); `sender` gets the pid that sent it (0: unknown). Passed descriptors are closed. */
long cssd_notify_receive(int fd, char *buffer, long capacity, int *sender);
#endif
