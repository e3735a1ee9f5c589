/* The last steps of starting a program worker, in the child the master forked: only
   async-signal-safe calls (the master's other threads may have held any lock at the fork). */
#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void cssd_program_report(int status_fd, int stage, int error) {
    int message[2] = { stage, error };
    ssize_t written;
    do { written = write(status_fd, message, sizeof message); } while (written < 0 && errno == EINTR);
}

static _Noreturn void fail(const struct cssd_program_launch *launch, int stage) {
    cssd_program_report(launch->status_fd, stage, errno);
    _exit(launch->failure_status);
}

/* Every descriptor from `first` up closed: close_range(2), else one by one up to the limit. */
static void close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)first, ~0u, 0u) == 0) return;
#endif
    struct rlimit limit;
    long last = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? (long)limit.rlim_cur : 65536;
    for (long fd = first; fd < last; fd++) close((int)fd);
}

/* Writes "LISTEN_PID=<pid>" into `slot` (room for CSSD_LISTEN_PID_SLOT bytes). */
static void write_listen_pid(char *slot, pid_t pid) {
    static const char prefix[] = "LISTEN_PID=";
    char digits[24];
    int count = 0;
    unsigned long value = (unsigned long)pid;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value != 0);
    memcpy(slot, prefix, sizeof prefix - 1);
    char *out = slot + sizeof prefix - 1;
    while (count > 0) *out++ = digits[--count];
    *out = 0;
}

void cssd_program_exec(const struct cssd_program_launch *launch) {
    if (setpgid(0, 0) != 0) fail(launch, CSSD_PROGRAM_STAGE_GROUP);
    /* Kept across execve: the program hears of the master's death, even by SIGKILL. */
    if (launch->death_signal > 0) {
        prctl(PR_SET_PDEATHSIG, (unsigned long)launch->death_signal, 0, 0, 0);
        if (getppid() != launch->master_pid) _exit(0);
    }
    /* Sources above every target first, so that no dup2 below overwrites one not yet copied
       (and a descriptor that is already its target still loses close-on-exec). */
    int listen_fd = fcntl(launch->listen_fd, F_DUPFD_CLOEXEC, 10);
    int input_fd = fcntl(launch->input_fd, F_DUPFD_CLOEXEC, 10);
    int output_fd = fcntl(launch->output_fd, F_DUPFD_CLOEXEC, 10);
    if (listen_fd < 0 || input_fd < 0 || output_fd < 0) fail(launch, CSSD_PROGRAM_STAGE_DESCRIPTORS);
    int status_fd = fcntl(launch->status_fd, F_DUPFD_CLOEXEC, 10);
    if (status_fd < 0) fail(launch, CSSD_PROGRAM_STAGE_DESCRIPTORS);
    if (dup2(input_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0 || dup2(listen_fd, 3) < 0
        || dup3(status_fd, 4, O_CLOEXEC) < 0)
        fail(launch, CSSD_PROGRAM_STAGE_DESCRIPTORS);
    /* Nothing else is inherited: every other descriptor is closed. The status pipe, now 4, is
       close-on-exec: it tells the master whether the exec happened, and the program never sees it. */
    close_from(5);
    struct cssd_program_launch moved = *launch;
    moved.status_fd = 4;
    launch = &moved;
    if (chdir(launch->directory) != 0) fail(launch, CSSD_PROGRAM_STAGE_DIRECTORY);
    write_listen_pid(launch->listen_pid_slot, getpid());
    /* Signals at their defaults and unblocked, whatever the master ignores or blocks: the
       system calls themselves, since glibc's wrappers refuse its own two signals (32 and 33),
       which a parent's posix_spawn may have left ignored. */
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } standard = { SIG_DFL, 0, NULL, 0 };
    for (int sig = 1; sig <= 64; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &standard, NULL, sizeof standard.mask);
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    execve(launch->path, launch->argv, launch->envp);
    fail(launch, CSSD_PROGRAM_STAGE_EXEC);
}
