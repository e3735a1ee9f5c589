/*
 * The C test plugin: proves the plugin ABI is plain C. Compiled by the tests with
 *     cc -std=c99 -shared -fPIC -I Sources/CSocketServerPlugin/include ctest_plugin.c -o libctest.so
 * Handlers:
 *   shout (stream, datagram)  keys: prefix (default "C"), repeat (default "1", 1-10)
 *         replies "TAG PREFIX: LINE IN UPPER CASE" (repeat times) for each line or datagram;
 *         the line "segfault" crashes the process (a plugin bug at run time)
 *   need  (stream)            key: word (required); sends "WORD\n" and closes
 * -DREPLY_TAG='"v2"' changes TAG (a rebuilt plugin); -DWRONG_ABI, -DNO_ENTRY and -DCRASH_ON_LOAD
 * build the faults the daemon must report. -DSLOW_CHECK='"PATH"' makes the check of `repeat`
 * create PATH.started and wait (up to 20 s) for PATH to exist: a daemon held in its start-up.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#ifdef SLOW_CHECK
#include <time.h>
#include <unistd.h>
#endif

#include <socketserverd/socketserverd_plugin.h>

#ifndef REPLY_TAG
#define REPLY_TAG "v1"
#endif

static int repeat_count(const ssd_request *request) {
    const char *text = request->config(request, "repeat");
    return text ? atoi(text) : 1;
}

/* "TAG PREFIX: UPPER\n" for `line` (length bytes, no newline), `repeat` times, into out. */
static size_t shout(const ssd_request *request, const char *line, size_t length, char *out, size_t size) {
    const char *prefix = request->config(request, "prefix");
    size_t used = 0;
    for (int round = 0; round < repeat_count(request); round++) {
        int head = snprintf(out + used, size - used, "%s %s: ", REPLY_TAG, prefix ? prefix : "?");
        if (head < 0 || (size_t)head >= size - used) break;
        used += (size_t)head;
        for (size_t i = 0; i < length && used + 2 < size; i++) out[used++] = (char)toupper((unsigned char)line[i]);
        out[used++] = '\n';
    }
    return used;
}

static int send_all(int fd, const char *bytes, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, bytes, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        bytes += sent;
        length -= (size_t)sent;
    }
    return 0;
}

static int shout_stream(const ssd_request *request, int fd) {
    char line[1024];
    size_t have = 0;
    char reply[16384];
    for (;;) {
        ssize_t got = recv(fd, line + have, sizeof line - have, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            request->log(request, SSD_LOG_WARNING, "recv failed");
            return 2;
        }
        if (got == 0) return SSD_OK;
        have += (size_t)got;
        char *newline;
        while ((newline = memchr(line, '\n', have)) != NULL) {
            size_t length = (size_t)(newline - line);
            if (length > 0 && line[length - 1] == '\r') length--;
            if (length == 8 && memcmp(line, "segfault", 8) == 0) *(volatile int *)0 = 1;
            if (send_all(fd, reply, shout(request, line, length, reply, sizeof reply)) != 0) return 3;
            size_t consumed = (size_t)(newline - line) + 1;
            memmove(line, line + consumed, have - consumed);
            have -= consumed;
        }
        if (have == sizeof line) return 4; /* line too long */
    }
}

static int shout_datagram(const ssd_request *request, const void *bytes, size_t length) {
    char reply[16384];
    while (length > 0 && ((const char *)bytes)[length - 1] == '\n') length--;
    size_t used = shout(request, bytes, length, reply, sizeof reply);
    return request->reply(request, reply, used) == 0 ? SSD_OK : 5;
}

#ifdef SLOW_CHECK
/* Announces that the check runs, then waits for the test's go-ahead. */
static void wait_for_go_ahead(void) {
    FILE *started = fopen(SLOW_CHECK ".started", "w");
    if (started) fclose(started);
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int round = 0; round < 2000 && access(SLOW_CHECK, F_OK) != 0; round++) nanosleep(&pause, NULL);
}
#endif

static int shout_validate(void *data, const char *key, const char *value, char *message, size_t size) {
    (void)data;
#ifdef SLOW_CHECK
    if (strcmp(key, "repeat") == 0) wait_for_go_ahead();
#endif
    if (strcmp(key, "repeat") == 0) {
        char *end;
        long number = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || number < 1 || number > 10) {
            snprintf(message, size, "must be a whole number from 1 to 10, not '%s'", value);
            return 1;
        }
    }
    return 0;
}

static int need_stream(const ssd_request *request, int fd) {
    const char *word = request->config(request, "word");
    char line[512];
    int length = snprintf(line, sizeof line, "%s\n", word ? word : "(none)");
    request->log(request, SSD_LOG_INFO, "need: sent the word");
    return send_all(fd, line, (size_t)length) == 0 ? SSD_OK : 1;
}

static const ssd_key shout_keys[] = {{"prefix", "C"}, {"repeat", "1"}};
static const ssd_key need_keys[] = {{"word", NULL}};

static const ssd_handler handlers[] = {
    {"shout", shout_keys, 2, shout_validate, shout_stream, shout_datagram, NULL},
    {"need", need_keys, 1, NULL, need_stream, NULL, NULL},
};

static const ssd_plugin plugin = {
#ifdef WRONG_ABI
    99u,
#else
    SSD_PLUGIN_ABI_VERSION,
#endif
    "ctest", handlers, sizeof handlers / sizeof handlers[0]};

#ifdef NO_ENTRY
const ssd_plugin *not_the_entry(void) { return &plugin; }
#else
const ssd_plugin *socketserverd_plugin_entry(void) {
#ifdef CRASH_ON_LOAD
    *(volatile int *)0 = 1; /* a real fault: a signal handler that returns would just continue */
#endif
    return &plugin;
}
#endif
