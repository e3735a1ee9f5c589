/*
 * The C test plugin: proves the plugin ABI is plain C. Compiled by the tests with
 *     cc -std=c99 -shared -fPIC -I Sources/CSocketServerPlugin/include ctest_plugin.c -o libctest.so
 * Handlers:
 *   shout (stream, datagram)  keys: prefix (default "C"), repeat (default "1", 1-10)
 *         replies "TAG PREFIX: LINE IN UPPER CASE" (repeat times) for each line or datagram;
 *         the line "segfault" crashes the process (a plugin bug at run time)
 *   need  (stream)            key: word (required); sends "WORD\n" and closes
 *   tally (events, ABI 1.1)   key: greeting (default "": say nothing first)
 *         answers each line with "TAG N: LINE IN UPPER CASE" (N counts this connection's lines,
 *         the state); "end" answers "bye" and ends, "fail" fails (status 7), "segfault" crashes;
 *         logs "tally: closed after N lines" when the connection is over
 * -DREPLY_TAG='"v2"' changes TAG (a rebuilt plugin); -DWRONG_ABI, -DNO_ENTRY and -DCRASH_ON_LOAD
 * build the faults the daemon must report. -DSLOW_CHECK='"PATH"' makes the check of `repeat`
 * create PATH.started and wait (up to 20 s) for PATH to exist: a daemon held in its start-up.
 * It also builds against ABI 1.0's header (Tests/PluginFixtures/abi-1.0, or -DSSD_PLUGIN_ABI_MINOR=0),
 * without tally. -DGUARD_PAGES puts the plugin struct and the handler table at the very end of
 * mapped memory, right before an inaccessible page: a daemon that reads past them crashes.
 * -DCLAIM_ABI_1_1 (with the 1.0 header) says 1.1 for a 1.0 table: the daemon must crash on it.
 * -DABI_OVERRIDE=N puts N in abi_version (another major or a newer minor, to be refused).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
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
#ifdef GUARD_PAGES
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <socketserverd/socketserverd_plugin.h>

#ifndef REPLY_TAG
#define REPLY_TAG "v1"
#endif

/* The 1.1 header defines SSD_PLUGIN_ABI_MINOR; 1.0's does not. */
#if defined(SSD_PLUGIN_ABI_MINOR) && SSD_PLUGIN_ABI_MINOR >= 1
#define HAS_EVENTS 1
#define NO_EVENTS , NULL /* ssd_handler.events, for -Wmissing-field-initializers */
#else
#define HAS_EVENTS 0
#define NO_EVENTS
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

#if HAS_EVENTS
/* tally's state: this connection's line count and the part of a line not yet ended. */
struct tally {
    unsigned long lines;
    size_t have;
    char line[1024];
};

static int tally_open(const ssd_request *request, void **state, ssd_output *output) {
    struct tally *tally = calloc(1, sizeof *tally);
    if (tally == NULL) return SSD_FAILED;
    *state = tally;
    const char *greeting = request->config(request, "greeting");
    if (greeting == NULL || *greeting == '\0') return SSD_OK;
    if (output->append(output, greeting, strlen(greeting)) != 0 || output->append(output, "\n", 1) != 0) return SSD_FAILED;
    return SSD_OK;
}

/* One whole line (no newline): its answer, or what it asks for. */
static int tally_line(struct tally *tally, const char *line, size_t length, ssd_output *output) {
    if (length == 8 && memcmp(line, "segfault", 8) == 0) *(volatile int *)0 = 1;
    if (length == 4 && memcmp(line, "fail", 4) == 0) return 7;
    if (length == 3 && memcmp(line, "end", 3) == 0) return output->append(output, "bye\n", 4) == 0 ? SSD_END : SSD_FAILED;
    char reply[1100];
    int head = snprintf(reply, sizeof reply, "%s %lu: ", REPLY_TAG, ++tally->lines);
    size_t used = (size_t)head;
    for (size_t i = 0; i < length; i++) reply[used++] = (char)toupper((unsigned char)line[i]);
    reply[used++] = '\n';
    return output->append(output, reply, used) == 0 ? SSD_OK : SSD_FAILED;
}

static int tally_data(const ssd_request *request, void **state, const void *bytes, size_t length, ssd_output *output) {
    (void)request;
    struct tally *tally = *state;
    const char *next = bytes;
    for (size_t i = 0; i < length; i++) {
        if (next[i] != '\n') {
            if (tally->have == sizeof tally->line) return 4; /* line too long */
            tally->line[tally->have++] = next[i];
            continue;
        }
        size_t line = tally->have;
        if (line > 0 && tally->line[line - 1] == '\r') line--;
        tally->have = 0;
        int status = tally_line(tally, tally->line, line, output);
        if (status != SSD_OK) return status;
    }
    return SSD_OK;
}

static void tally_close(const ssd_request *request, void *state) {
    struct tally *tally = state;
    char message[64];
    snprintf(message, sizeof message, "tally: closed after %lu lines", tally ? tally->lines : 0);
    request->log(request, SSD_LOG_INFO, message);
    free(tally);
}

static const ssd_key tally_keys[] = {{"greeting", ""}};
static const ssd_events tally_events = {tally_open, tally_data, tally_close};
#endif

static const ssd_key shout_keys[] = {{"prefix", "C"}, {"repeat", "1"}};
static const ssd_key need_keys[] = {{"word", NULL}};

static const ssd_handler handlers[] = {
    {"shout", shout_keys, 2, shout_validate, shout_stream, shout_datagram, NULL NO_EVENTS},
    {"need", need_keys, 1, NULL, need_stream, NULL, NULL NO_EVENTS},
#if HAS_EVENTS
    {"tally", tally_keys, 1, NULL, NULL, NULL, NULL, &tally_events},
#endif
};

static const ssd_plugin plugin = {
#if defined(WRONG_ABI)
    99u,
#elif defined(ABI_OVERRIDE)
    ABI_OVERRIDE,
#elif defined(CLAIM_ABI_1_1)
    0x10001u,
#else
    SSD_PLUGIN_ABI_VERSION,
#endif
    "ctest", handlers, sizeof handlers / sizeof handlers[0]};

#ifdef GUARD_PAGES
/* A copy of `size` bytes that ends where an inaccessible page begins. */
static void *guarded_copy(const void *bytes, size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *region = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || mprotect(region + page, page, PROT_NONE) != 0) return NULL;
    return memcpy(region + page - size, bytes, size);
}

static const ssd_plugin *guarded_plugin(void) {
    ssd_plugin copy = plugin;
    copy.handlers = guarded_copy(handlers, sizeof handlers);
    return copy.handlers ? guarded_copy(&copy, sizeof copy) : NULL;
}
#endif

#ifdef NO_ENTRY
const ssd_plugin *not_the_entry(void) { return &plugin; }
#else
const ssd_plugin *socketserverd_plugin_entry(void) {
#ifdef CRASH_ON_LOAD
    *(volatile int *)0 = 1; /* a real fault: a signal handler that returns would just continue */
#endif
#ifdef GUARD_PAGES
    static const ssd_plugin *guarded;
    if (guarded == NULL) guarded = guarded_plugin();
    return guarded;
#else
    return &plugin;
#endif
}
#endif
