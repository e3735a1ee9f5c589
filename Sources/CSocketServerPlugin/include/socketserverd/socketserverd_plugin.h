/*
 * socketserverd_plugin.h: the handler plugin ABI of socketserverd, version 1.1. C99, no other deps.
 *
 * A plugin is a shared library (cc -shared -fPIC) that exports one function,
 *
 *     const ssd_plugin *socketserverd_plugin_entry(void);
 *
 * returning a description of its handlers. The daemon loads it with dlopen(RTLD_NOW | RTLD_LOCAL)
 * (in a checking child and in each worker, never in the master), calls the entry once per process,
 * checks `abi_version`, and never unloads it. Everything the entry returns, directly or through
 * pointers, must stay valid and unchanged while the library is loaded (static storage is ideal).
 *
 * Config:   [plugin NAME]  path = libNAME.so   (relative to [daemon] plugin_dir)
 *           [service S]    handler = NAME.HANDLER   plus the keys that handler declares.
 *
 * A handler has up to three variants: `stream` (a blocking callback per connection), `datagram`
 * (a callback per datagram) and, since ABI 1.1, `events` (event-driven: callbacks when a connection
 * opens, when bytes arrive and when it closes; they never block). Which one serves a service:
 *
 *   concurrency = events            events (a handler without it is a config error)
 *   concurrency = sync/threads/fork stream for stream listeners; a handler with events but no
 *                                   stream is driven by the daemon's blocking adapter (below)
 *   datagram listeners              datagram (events serves streams only)
 *
 * Blocking callbacks may run concurrently on several threads of one worker (concurrency = threads)
 * or in a forked child of it (concurrency = fork); they must be thread-safe. SIGPIPE is ignored in
 * workers. A status other than SSD_OK is logged as an error for that request; it does not stop the
 * worker. A crash in a callback ends that worker only; the master replaces it (with crash back-off).
 *
 * Versions. `abi_version` holds the major version in its low 16 bits and the minor version in its
 * high 16 bits: SSD_PLUGIN_ABI(major, minor). ABI 1.0's header defined SSD_PLUGIN_ABI_VERSION as 1,
 * which is 1.0 under this scheme, so plugins built against it load unchanged. A minor version only
 * adds: fields at the end of a struct (never in the middle), new structs reached through them, new
 * constants. The daemon loads a plugin of its own major version and of a minor version up to its
 * own, and reads of each struct only the fields that the plugin's minor version has: a 1.0 plugin's
 * handler table is read with 1.0's stride (sizeof the 1.0 ssd_handler, 56 bytes on LP64), its
 * `events` field is never read. A plugin of a newer minor version than the daemon's is refused (it
 * may rely on what the daemon lacks), so a plugin may use everything its own version defines in
 * what the daemon passes it. A new major version may change anything; the daemon refuses majors it
 * does not speak.
 *
 * Building for an older daemon: define SSD_PLUGIN_ABI_MINOR before including this header (or with
 * -DSSD_PLUGIN_ABI_MINOR=0) to get that minor version's structs and SSD_PLUGIN_ABI_VERSION.
 */
#ifndef SOCKETSERVERD_PLUGIN_H
#define SOCKETSERVERD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An ABI version as `abi_version` holds it: the major in the low 16 bits, the minor in the high. */
#define SSD_PLUGIN_ABI(major, minor) ((uint32_t)(major) | (uint32_t)(minor) << 16)
/* The major version this header describes. */
#define SSD_PLUGIN_ABI_MAJOR 1
/* The minor version the plugin is built for: this header's newest (1) unless defined before. */
#ifndef SSD_PLUGIN_ABI_MINOR
#define SSD_PLUGIN_ABI_MINOR 1
#endif
#if SSD_PLUGIN_ABI_MINOR < 0 || SSD_PLUGIN_ABI_MINOR > 1
#error "SSD_PLUGIN_ABI_MINOR: this header describes ABI 1.0 and 1.1"
#endif
/* What the plugin puts in ssd_plugin.abi_version: 1 for 1.0, 0x10001 for 1.1. */
#define SSD_PLUGIN_ABI_VERSION SSD_PLUGIN_ABI(SSD_PLUGIN_ABI_MAJOR, SSD_PLUGIN_ABI_MINOR)
/* The name of the entry symbol, for dlsym. */
#define SSD_PLUGIN_ENTRY_SYMBOL "socketserverd_plugin_entry"

/* Status a callback returns: SSD_OK, or any other value for "this request failed" (logged). */
#define SSD_OK 0
/* Event callbacks (1.1) also return SSD_END: send what is in the output, then close. */
#define SSD_END 1
/* A failure status for event callbacks (any value but SSD_OK and SSD_END fails). */
#define SSD_FAILED (-1)

/* Log levels for ssd_request.log. */
#define SSD_LOG_DEBUG 0
#define SSD_LOG_INFO 1
#define SSD_LOG_WARNING 2
#define SSD_LOG_ERROR 3

/*
 * One request, as the daemon hands it to a callback. Valid only during that callback (for event
 * callbacks: from `open` until `close` returns, the same pointer each time); the pointers it
 * returns (config values) stay valid for the life of the worker.
 */
typedef struct ssd_request ssd_request;
struct ssd_request {
    /* The service's name, from [service NAME]. */
    const char *service;
    /* The handler as the service names it: "PLUGIN.HANDLER". */
    const char *handler;
    /* The client: "127.0.0.1:40000", "[::1]:40000", a Unix socket path, or "" (unnamed Unix peer). */
    const char *client;
    /* The `data` pointer of this handler's ssd_handler. */
    void *handler_data;
    /*
     * The value of one of the handler's declared keys for this service: as written in the config,
     * or its default. NULL for a key the handler did not declare.
     */
    const char *(*config)(const ssd_request *request, const char *key);
    /* Writes one line to the daemon's log, prefixed with the service and client. level: SSD_LOG_*. */
    void (*log)(const ssd_request *request, int level, const char *message);
    /*
     * Datagram handlers only (NULL for streams): sends `length` bytes to the client as one datagram.
     * May be called any number of times. Returns 0, or -1 with errno set.
     */
    int (*reply)(const ssd_request *request, const void *bytes, size_t length);
    /* The daemon's own state for this request; do not touch. */
    void *daemon;
};

/*
 * A stream connection (tcp://, unix:). `fd` is the connected socket, in blocking mode, with
 * SO_RCVTIMEO/SO_SNDTIMEO set to the service's `timeout` (a silent client makes recv fail with
 * EAGAIN). Do not close it; the daemon closes it after the callback returns.
 */
typedef int (*ssd_stream_fn)(const ssd_request *request, int fd);

/* One datagram (udp://, unixgram:) of `length` bytes (`bytes` may be NULL when length is 0);
 * answer with request->reply. */
typedef int (*ssd_datagram_fn)(const ssd_request *request, const void *bytes, size_t length);

/*
 * Optional check of one key's value, called for every declared key of every service using the
 * handler (with the default filled in), by --check-config, on reload and when a worker starts.
 * Return 0 if the value is fine; otherwise write a NUL-terminated reason (no more than
 * `message_size` bytes, including the NUL) into `message` and return non-zero.
 */
typedef int (*ssd_validate_fn)(void *handler_data, const char *key, const char *value, char *message,
                               size_t message_size);

/* A config key a handler reads. Names use [a-z0-9_] and must not be one of the daemon's keys. */
typedef struct ssd_key {
    const char *name;
    /* The value when the service does not set the key; NULL makes the key required. */
    const char *default_value;
} ssd_key;

#if SSD_PLUGIN_ABI_MINOR >= 1
/*
 * ABI 1.1: the output of an event callback. What the callback appends is sent to the client, in
 * order, without blocking, after the callback returns. `append` copies the bytes straight into the
 * connection's own send buffer (no copy in between); it returns 0, or -1 with errno set (EINVAL:
 * NULL bytes with a length). Valid only during the callback it is passed to.
 */
typedef struct ssd_output ssd_output;
struct ssd_output {
    int (*append)(ssd_output *output, const void *bytes, size_t length);
    /* The daemon's own state for this output; do not touch. */
    void *daemon;
};

/*
 * Event-driven stream callbacks (ABI 1.1). They must never block: under concurrency = events one
 * thread of a worker runs the callbacks of all its connections, and a callback that waits stalls
 * them all. Read nothing from the socket and write nothing to it: the daemon passes in what
 * arrived and sends what the callbacks append to `output` (with backpressure: while a reply is
 * pending, nothing more is read from that client). `*state` is the connection's own pointer,
 * NULL before `open`; a callback may set it.
 *
 * open   when the connection starts: append what the server says first (a greeting), or nothing.
 *        May be NULL (nothing said, state stays NULL).
 * data   with `length` (> 0) bytes the client sent; append the reply. Required.
 * close  once, when the connection is over (the client closed, the handler ended or failed, an
 *        idle timeout, a graceful stop), whatever `open` returned: free the state here. May be
 *        NULL. Not called when the worker process ends without ending its connections (a crash,
 *        an immediate stop).
 *
 * open and data return SSD_OK (go on), SSD_END (send what is pending, then close) or any other
 * status: the connection fails, what is pending is dropped and the status is logged.
 * The client's end of file is not passed on: the daemon sends what is pending and closes.
 *
 * Under concurrency = events all of a worker's callbacks run on one thread; under sync, threads
 * and fork the daemon's blocking adapter serves a handler without `stream` through these same
 * callbacks (one connection on one thread at a time; several connections at once under threads),
 * reading with the service's `timeout`.
 */
typedef int (*ssd_open_fn)(const ssd_request *request, void **state, ssd_output *output);
typedef int (*ssd_data_fn)(const ssd_request *request, void **state, const void *bytes, size_t length,
                           ssd_output *output);
typedef void (*ssd_close_fn)(const ssd_request *request, void *state);

typedef struct ssd_events {
    ssd_open_fn open;    /* may be NULL */
    ssd_data_fn data;    /* required */
    ssd_close_fn close;  /* may be NULL */
} ssd_events;
#endif

/*
 * One handler, selected with `handler = PLUGIN.NAME`. At least one of stream/datagram (and, in
 * 1.1, events) is set. The daemon reads a table of these with the stride of the plugin's version.
 */
typedef struct ssd_handler {
    /* [A-Za-z0-9_-]+, unique within the plugin. */
    const char *name;
    const ssd_key *keys;
    size_t key_count;
    ssd_validate_fn validate;  /* may be NULL */
    ssd_stream_fn stream;      /* NULL: cannot serve stream listeners */
    ssd_datagram_fn datagram;  /* NULL: cannot serve datagram listeners */
    /* Passed back as ssd_request.handler_data and to validate. */
    void *data;
#if SSD_PLUGIN_ABI_MINOR >= 1
    /* ABI 1.1: the event-driven variant; NULL: none (concurrency = events cannot serve it). */
    const ssd_events *events;
#endif
} ssd_handler;

/* What the entry returns. */
typedef struct ssd_plugin {
    /* SSD_PLUGIN_ABI_VERSION: the version the plugin is built for (the layout of what follows). */
    uint32_t abi_version;
    /* The plugin's own name, for logs (the config's [plugin NAME] is what services use). */
    const char *name;
    const ssd_handler *handlers;
    size_t handler_count;
} ssd_plugin;

/* The entry every plugin exports. Called once per process, before any callback. */
typedef const ssd_plugin *(*ssd_plugin_entry_fn)(void);
const ssd_plugin *socketserverd_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* SOCKETSERVERD_PLUGIN_H */
